"""One gateway call as the sandbox's methods see it, the two ways Alipay refuses one, and the readers of
biz_content fields that refuse a bad field the way Alipay does (40004 with the method family's sub_code)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .store import App
from .values import AmountError, yuan_to_fen

CODE_MSG = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
}
OUT_NO = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


class GatewayError(Exception):
    """A gateway-level refusal (40001/40002): signed when the app is known, as Alipay does; an unknown app_id
    cannot be signed for (alipay-protocol.md §3)."""

    def __init__(self, code: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg


class BusinessError(Exception):
    """A business refusal (40004, or 20000 for system errors): answered signed. ``echo`` holds the fields
    Alipay writes beside the error (e.g. the out_trade_no and zero amounts of ACQ.TRADE_NOT_EXIST)."""

    def __init__(self, sub_code: str, sub_msg: str, code: str = "40004", echo: dict[str, str] | None = None) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg
        self.echo = echo or {}


@dataclass
class Call:
    """A call that passed the gateway's checks (app known, signature good): what a method handler gets."""

    method: str
    app: App
    params: dict[str, str]
    biz: dict[str, Any]
    base_url: str
    now: datetime
    faults: set[str] = field(default_factory=set)


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def error_node(exc: GatewayError | BusinessError) -> dict[str, Any]:
    node = {"code": exc.code, "msg": CODE_MSG.get(exc.code, ""), "sub_code": exc.sub_code, "sub_msg": exc.sub_msg}
    return {**node, **getattr(exc, "echo", {})}


def invalid_sub_code(method: str) -> str:
    if method.startswith("alipay.trade."):
        return "ACQ.INVALID_PARAMETER"
    if method.startswith("alipay.fund."):
        return "INVALID_PARAMETER"
    return "isv.invalid-arguments"


def text(call: Call, name: str, *, required: bool = False, max_len: int = 256) -> str:
    value = call.biz.get(name)
    if value is None or value == "":
        if required:
            raise BusinessError(invalid_sub_code(call.method), f"参数有误，缺少必选参数{name} (missing {name})")
        return ""
    if not isinstance(value, str):
        value = str(value)
    if len(value) > max_len:
        raise BusinessError(invalid_sub_code(call.method), f"参数有误，{name}长度超过{max_len}")
    return value


def out_no(call: Call, name: str, *, required: bool = True) -> str:
    value = text(call, name, required=required, max_len=64)
    if value and not OUT_NO.match(value):
        raise BusinessError(invalid_sub_code(call.method), f"参数有误，{name}只能包含字母、数字、下划线")
    return value


def amount(call: Call, name: str, *, min_fen: int = 1, too_big: str | None = None) -> int:
    if call.biz.get(name) in (None, ""):
        raise BusinessError(invalid_sub_code(call.method), f"参数有误，缺少必选参数{name} (missing {name})")
    try:
        return yuan_to_fen(call.biz[name], min_fen=min_fen)
    except AmountError as exc:
        if exc.kind == "high" and too_big:
            raise BusinessError(too_big, f"{name}超过限额") from exc
        raise BusinessError(invalid_sub_code(call.method), f"参数有误，{name}：{exc}") from exc
