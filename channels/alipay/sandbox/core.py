"""The sandbox's behaviour, free of HTTP: request checks, the gateway methods, payment, notifications, bills.

``Sandbox.call`` takes the merged request parameters and returns a ``Reply``; ``app.py`` puts it on the wire.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from . import crypto
from .bill import bill_rows, build_zip
from .config import SandboxConfig
from .faults import Faults
from .notify import Notifier, new_notify_id
from .store import (
    TRADE_CLOSED,
    TRADE_FINISHED,
    TRADE_SUCCESS,
    WAIT_BUYER_PAY,
    App,
    Refund,
    Store,
    Trade,
    Transfer,
)
from .values import (
    CHARSETS,
    AmountError,
    codec_of,
    fen_to_yuan,
    fmt_time,
    mask_logon_id,
    new_digits,
    new_trade_no,
    parse_time,
    parse_timeout_express,
    yuan_to_fen,
)

PAGE_METHODS = ("alipay.trade.page.pay", "alipay.trade.wap.pay", "alipay.trade.app.pay")
PRODUCT_CODES = {
    "alipay.trade.page.pay": ("FAST_INSTANT_TRADE_PAY",),
    "alipay.trade.wap.pay": ("QUICK_WAP_WAY", "QUICK_WAP_PAY"),
    "alipay.trade.app.pay": ("QUICK_MSECURITY_PAY",),
    "alipay.trade.precreate": ("FACE_TO_FACE_PAYMENT", "QR_CODE_OFFLINE"),
}
CODE_MSG = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
}
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
OUT_NO = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")
DEFAULT_BUYER = "buyer@sandbox.example"
TRANSFER_MIN_FEN = 10
_ZERO_QUERY_AMOUNTS = ("buyer_pay_amount", "invoice_amount", "point_amount", "receipt_amount")


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


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


class PayError(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Reply:
    """One gateway answer. ``node`` is None for page methods, which answer with ``trade``."""

    method: str
    node: dict[str, Any] | None = None
    signed: bool = True
    charset: str = "utf-8"
    trade: Trade | None = None
    app: App | None = None
    error: GatewayError | BusinessError | None = None
    delay: float = 0.0  # the timeout fault: answer this many seconds late
    wrong_key: bool = False

    @property
    def key(self) -> str:
        return response_key(self.method) if self.method in METHODS else "error_response"


@dataclass
class Call:
    method: str
    app: App
    params: dict[str, str]
    biz: dict[str, Any]
    base_url: str
    now: datetime
    faults: set[str] = field(default_factory=set)


def _invalid_sub_code(method: str) -> str:
    if method.startswith("alipay.trade."):
        return "ACQ.INVALID_PARAMETER"
    if method.startswith("alipay.fund."):
        return "INVALID_PARAMETER"
    return "isv.invalid-arguments"


def _text(call: Call, name: str, *, required: bool = False, max_len: int = 256) -> str:
    value = call.biz.get(name)
    if value is None or value == "":
        if required:
            raise BusinessError(_invalid_sub_code(call.method), f"参数有误，缺少必选参数{name} (missing {name})")
        return ""
    if not isinstance(value, str):
        value = str(value)
    if len(value) > max_len:
        raise BusinessError(_invalid_sub_code(call.method), f"参数有误，{name}长度超过{max_len}")
    return value


def _out_no(call: Call, name: str, *, required: bool = True) -> str:
    value = _text(call, name, required=required, max_len=64)
    if value and not OUT_NO.match(value):
        raise BusinessError(_invalid_sub_code(call.method), f"参数有误，{name}只能包含字母、数字、下划线")
    return value


def _amount(call: Call, name: str, *, min_fen: int = 1, too_big: str | None = None) -> int:
    if call.biz.get(name) in (None, ""):
        raise BusinessError(_invalid_sub_code(call.method), f"参数有误，缺少必选参数{name} (missing {name})")
    try:
        return yuan_to_fen(call.biz[name], min_fen=min_fen)
    except AmountError as exc:
        if exc.kind == "high" and too_big:
            raise BusinessError(too_big, f"{name}超过限额") from exc
        raise BusinessError(_invalid_sub_code(call.method), f"参数有误，{name}：{exc}") from exc


class Sandbox:
    """One sandbox: its key, its store, its faults, its notifier."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        # key_origin: "given" (config text), "loaded" / "created" (key_file), or "fresh" (this run only)
        self.key, self.key_origin = self._load_key(config)
        self._wrong_key: Any = None
        self.store = Store(config.state_file)
        for app_id, public_key in config.apps.items():
            crypto.load_public_key(public_key)  # refuse a bad key at start, not at first request
            self.store.register_app(app_id, public_key)
        self._app_keys: dict[str, tuple[str, Any]] = {}
        self.faults = Faults()
        self.notifier = Notifier(
            self._sign_notification, self.faults, time_scale=config.time_scale, timeout=config.notify_timeout
        )
        self._bills: dict[str, tuple[str, bytes, float]] = {}
        self._bills_lock = threading.Lock()
        self.stopping = threading.Event()

    # ------------------------------------------------------------ keys
    @staticmethod
    def _load_key(config: SandboxConfig) -> tuple[Any, str]:
        if config.private_key:
            return crypto.load_private_key(config.private_key), "given"
        if config.key_file:
            if config.key_file.exists():
                return crypto.load_private_key(config.key_file.read_text()), "loaded"
            key = crypto.generate_private_key()
            # created owner-only from the first byte: it is the key every answer is signed with
            fd = os.open(config.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(crypto.private_key_pem(key))
            return key, "created"
        return crypto.generate_private_key(), "fresh"

    @property
    def public_key_pem(self) -> str:
        return crypto.public_key_pem(self.key.public_key())

    @property
    def public_key_bare(self) -> str:
        return crypto.public_key_bare(self.key.public_key())

    def _signing_key(self, wrong: bool) -> Any:
        if not wrong:
            return self.key
        if self._wrong_key is None:
            self._wrong_key = crypto.generate_private_key()
        return self._wrong_key

    def app_key(self, app: App) -> Any:
        cached = self._app_keys.get(app.app_id)
        if cached and cached[0] == app.public_key:
            return cached[1]
        key = crypto.load_public_key(app.public_key)
        self._app_keys[app.app_id] = (app.public_key, key)
        return key

    def register_app(self, app_id: str, public_key: str, seller_id: str | None = None) -> App:
        crypto.load_public_key(public_key)
        return self.store.register_app(app_id, public_key, seller_id)

    def sign_node(self, node_text: bytes, wrong_key: bool = False) -> str:
        return crypto.sign_bytes(self._signing_key(wrong_key), node_text)

    def sign_v1(self, fields: dict[str, str], wrong_key: bool = False) -> str:
        """Signature for notifications and return parameters: all non-empty fields but sign and sign_type,
        over the string-to-sign encoded in the fields' own ``charset`` (what Alipay's rsaCheckV1 verifies)."""
        content = crypto.content_to_sign(fields, exclude={"sign", "sign_type"})
        data = content.encode(codec_of(fields.get("charset")), errors="replace")
        return crypto.sign_bytes(self._signing_key(wrong_key), data)

    def _sign_notification(self, fields: dict[str, str]) -> str:
        return self.sign_v1(fields, wrong_key=self.faults.take("wrong_key_notifications"))

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.stopping.clear()
        self.notifier.start()

    def stop(self) -> None:
        self.stopping.set()
        self.notifier.stop()

    def reset(self) -> None:
        self.store.reset()
        self.notifier.clear()
        self.faults.reset()
        with self._bills_lock:
            self._bills.clear()

    # ------------------------------------------------------------ the gateway
    def call(self, params: dict[str, str], base_url: str, request_faults: set[str] | None = None) -> Reply:
        method = params.get("method", "")
        charset = codec_of(params.get("charset"))
        with self.store.lock:
            known_app = params.get("app_id", "") in self.store.apps
        try:
            app = self._check_common(params, charset)
        except GatewayError as exc:
            return Reply(method, _error_node(exc), signed=known_app, charset=charset, error=exc)
        reply = Reply(method, charset=charset, app=app)
        faults = request_faults or set()
        reply.wrong_key = "wrong_sign" in faults or self.faults.take("wrong_key_responses")
        timeout = next((f for f in faults if f == "timeout" or f.startswith("timeout=")), None)
        if timeout:
            reply.delay = float(timeout.partition("=")[2] or 30)
        else:
            reply.delay = self.faults.take_timeout(method) or 0.0
        error_rule = self.faults.take_system_error(method)
        if "system_error" in faults or "system_error_20000" in faults:
            error_rule = {"code": "20000" if "system_error_20000" in faults else "40004"}
        if error_rule is not None:
            system_error = _system_error(error_rule)
            reply.node, reply.error = _error_node(system_error), system_error
            return reply
        try:
            biz = self._biz_content(params)
            call = Call(method, app, params, biz, base_url.rstrip("/"), self.config.clock(), faults)
            if method in PAGE_METHODS:
                reply.trade = self._create_trade(call)
                reply.node = {"code": "10000", "msg": "Success"}
            else:
                result = HANDLERS[method](self, call)
                reply.node = {"code": "10000", "msg": "Success", **result}
        except (GatewayError, BusinessError) as exc:  # both signed: the app is known by now
            reply.node, reply.error = _error_node(exc), exc
        return reply

    def _check_common(self, params: dict[str, str], charset: str) -> App:
        method = params.get("method", "")
        if not method:
            raise GatewayError("40001", "isv.missing-method", "缺少方法名参数")
        if method not in METHODS:
            raise GatewayError("40002", "isv.invalid-method", f"不存在的方法名 {method}")
        app_id = params.get("app_id", "")
        if not app_id:
            raise GatewayError("40001", "isv.missing-app-id", "缺少AppID参数")
        with self.store.lock:
            app = self.store.apps.get(app_id)
        if app is None:
            raise GatewayError("40002", "isv.invalid-app-id", "无效的AppID参数")
        if not params.get("sign"):
            raise GatewayError("40001", "isv.missing-signature", "缺少签名参数")
        sign_type = params.get("sign_type", "")
        if not sign_type:
            raise GatewayError("40001", "isv.missing-signature-type", "缺少签名类型参数")
        if sign_type not in crypto.HASHES:
            raise GatewayError("40002", "isv.invalid-signature-type", "无效的签名类型")
        if params.get("charset") and params["charset"].lower() not in CHARSETS:
            raise GatewayError("40002", "isv.invalid-charset", "字符集错误")
        if params.get("format") and params["format"].upper() != "JSON":
            raise GatewayError("40002", "isv.invalid-format", "无效的数据格式")
        timestamp = params.get("timestamp", "")
        if not timestamp:
            raise GatewayError("40001", "isv.missing-timestamp", "缺少时间戳参数")
        try:
            datetime.strptime(timestamp, TIMESTAMP_FORMAT)
        except ValueError:
            raise GatewayError("40002", "isv.invalid-timestamp", "非法的时间戳参数") from None
        version = params.get("version", "")
        if not version:
            raise GatewayError("40001", "isv.missing-version", "缺少版本参数")
        if version != "1.0":
            raise GatewayError("40002", "isv.invalid-parameter", "版本号无效，应为1.0")
        content = crypto.content_to_sign(params)
        try:
            data = content.encode(charset)
        except UnicodeEncodeError:
            data = b""
        if not data or not crypto.verify_bytes(self.app_key(app), data, params["sign"], sign_type):
            raise GatewayError(
                "40002",
                "isv.invalid-signature",
                # Alipay quotes its string-to-sign HTML-escaped: "&" arrives as "&amp;".
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
                + content.replace("&", "&amp;"),
            )
        return app

    @staticmethod
    def _biz_content(params: dict[str, str]) -> dict[str, Any]:
        raw = params.get("biz_content", "")
        if not raw:
            return {}
        try:
            biz = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise GatewayError("40002", "isv.invalid-parameter", "biz_content不是合法的JSON") from None
        if not isinstance(biz, dict):
            raise GatewayError("40002", "isv.invalid-parameter", "biz_content应为JSON对象")
        return biz

    # ------------------------------------------------------------ trades
    def _refresh(self, trade: Trade, now: datetime) -> None:
        if trade.status == WAIT_BUYER_PAY and trade.expire_at and now >= trade.expire_at:
            trade.status = TRADE_CLOSED
            trade.gmt_close = trade.expire_at

    def _visible(self, call: Call) -> Trade:
        trade_no = _text(call, "trade_no", max_len=64)
        out_trade_no = _text(call, "out_trade_no", max_len=64)
        if not trade_no and not out_trade_no:
            raise BusinessError(_invalid_sub_code(call.method), "参数有误，out_trade_no和trade_no不能同时为空")
        trade = self.store.find_trade(call.app.app_id, trade_no=trade_no, out_trade_no=out_trade_no)
        if trade is None or (
            not trade.scanned and trade.status == WAIT_BUYER_PAY and self.config.hide_unscanned_precreate
        ):
            echo = {}
            if call.method == "alipay.trade.query":  # Alipay's answer names the order and zero amounts
                echo = {"out_trade_no": out_trade_no, **dict.fromkeys(_ZERO_QUERY_AMOUNTS, "0.00")}
            raise BusinessError("ACQ.TRADE_NOT_EXIST", "交易不存在", echo={k: v for k, v in echo.items() if v})
        self._refresh(trade, call.now)
        return trade

    def _create_trade(self, call: Call) -> Trade:
        out_trade_no = _out_no(call, "out_trade_no")
        amount = _amount(call, "total_amount", too_big="ACQ.TOTAL_FEE_EXCEED")
        subject = _text(call, "subject", required=True, max_len=256)
        product_code = _text(call, "product_code", max_len=64)
        if product_code and product_code not in PRODUCT_CODES[call.method]:
            raise BusinessError(_invalid_sub_code(call.method), f"参数有误，product_code不支持{product_code}")
        expire_at = None
        try:
            if call.biz.get("time_expire"):
                expire_at = parse_time(str(call.biz["time_expire"]), (TIMESTAMP_FORMAT, "%Y-%m-%d %H:%M"))
            elif call.biz.get("timeout_express"):
                expire_at = parse_timeout_express(str(call.biz["timeout_express"]), call.now)
        except ValueError:
            raise BusinessError(_invalid_sub_code(call.method), "参数有误，超时时间格式错误") from None
        if expire_at is not None and expire_at <= call.now:
            raise BusinessError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭 (time_expire已过)")
        with self.store.changing():
            existing = self.store.find_trade(call.app.app_id, out_trade_no=out_trade_no)
            if existing is not None:
                self._refresh(existing, call.now)
                if existing.status in (TRADE_SUCCESS, TRADE_FINISHED):
                    raise BusinessError("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
                if existing.status == TRADE_CLOSED:
                    raise BusinessError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
                if existing.amount_fen != amount or existing.subject != subject:
                    raise BusinessError("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
                return existing
            trade = Trade(
                trade_no=new_trade_no(call.now),
                out_trade_no=out_trade_no,
                app_id=call.app.app_id,
                seller_id=call.app.seller_id,
                method=call.method,
                product_code=product_code or PRODUCT_CODES[call.method][0],
                amount_fen=amount,
                subject=subject,
                status=WAIT_BUYER_PAY,
                gmt_create=call.now,
                body=_text(call, "body", max_len=128),
                notify_url=call.params.get("notify_url", ""),
                return_url=call.params.get("return_url", "") if call.method != "alipay.trade.precreate" else "",
                quit_url=_text(call, "quit_url", max_len=400) if call.method == "alipay.trade.wap.pay" else "",
                passback_params=_text(call, "passback_params", max_len=512),
                charset=call.params.get("charset") or "utf-8",
                expire_at=expire_at,
                scanned=call.method != "alipay.trade.precreate",
            )
            self.store.add_trade(trade)
            return trade

    def precreate(self, call: Call) -> dict[str, Any]:
        trade = self._create_trade(call)
        return {"out_trade_no": trade.out_trade_no, "qr_code": self.checkout_url(call.base_url, trade)}

    def checkout_url(self, base_url: str, trade: Trade) -> str:
        return f"{(self.config.public_url or base_url).rstrip('/')}/sandbox/checkout/{trade.trade_no}"

    def query(self, call: Call) -> dict[str, Any]:
        with self.store.changing():
            trade = self._visible(call)
            paid = trade.gmt_payment is not None
            amount = fen_to_yuan(trade.amount_fen)
            # The buyer is known from the scan on (Alipay shows who scanned a trade still WAIT_BUYER_PAY).
            node: dict[str, Any] = {
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "buyer_logon_id": mask_logon_id(trade.buyer_logon_id) if trade.buyer_id else "",
                "trade_status": trade.status,
                "total_amount": amount,
                "buyer_pay_amount": amount if paid else "0.00",
                "point_amount": "0.00",
                "invoice_amount": amount if paid else "0.00",
                "receipt_amount": amount if paid else "0.00",
            }
            if trade.buyer_id:
                node["buyer_user_id"] = trade.buyer_id
                node["buyer_user_type"] = "PRIVATE"
            if paid:
                node["send_pay_date"] = fmt_time(trade.gmt_payment)
                node["fund_bill_list"] = [{"amount": amount, "fund_channel": "ALIPAYACCOUNT"}]
            return {k: v for k, v in node.items() if v != ""}

    def close(self, call: Call) -> dict[str, Any]:
        with self.store.changing():
            trade = self._visible(call)
            if trade.status != WAIT_BUYER_PAY:
                raise BusinessError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            trade.status = TRADE_CLOSED
            trade.gmt_close = call.now
            return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def refund(self, call: Call) -> dict[str, Any]:
        amount = _amount(call, "refund_amount")
        reason = _text(call, "refund_reason", max_len=256)
        with self.store.changing():
            trade = self._visible(call)
            request_no = _out_no(call, "out_request_no", required=False) or trade.out_trade_no
            previous = trade.find_refund(request_no)
            fund_change = "N"
            if previous is not None:
                if previous.amount_fen != amount:
                    raise BusinessError("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致，同一退款请求号的退款金额不同")
                refund = previous
            else:
                if trade.status == WAIT_BUYER_PAY:
                    raise BusinessError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法，交易未支付")
                if trade.status == TRADE_CLOSED:
                    raise BusinessError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
                if trade.status == TRADE_FINISHED:
                    raise BusinessError("ACQ.TRADE_HAS_FINISHED", "交易已完结，不可退款")
                if trade.refunded_fen + amount > trade.amount_fen:
                    raise BusinessError("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限，累计退款金额大于订单金额")
                refund = Refund(request_no, amount, reason, call.now)
                trade.refunds.append(refund)
                fund_change = "Y"
                if trade.refunded_fen == trade.amount_fen:
                    trade.status = TRADE_CLOSED
                    trade.gmt_close = call.now
            node = {
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "buyer_logon_id": mask_logon_id(trade.buyer_logon_id),
                "buyer_user_id": trade.buyer_id,
                "fund_change": fund_change,
                "refund_fee": fen_to_yuan(trade.refunded_fen),
                "gmt_refund_pay": fmt_time(refund.gmt_refund),
                "send_back_fee": fen_to_yuan(refund.amount_fen),
            }
        if fund_change == "Y" and self.config.notify_refunds and trade.notify_url:
            self._notify(trade, refund)
        return node

    def refund_query(self, call: Call) -> dict[str, Any]:
        request_no = _out_no(call, "out_request_no")
        with self.store.lock:
            trade = self._visible(call)
            refund = trade.find_refund(request_no)
            if refund is None:
                return {}  # Alipay answers 10000 with nothing in it for an unknown request number
            return {
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "out_request_no": refund.out_request_no,
                "total_amount": fen_to_yuan(trade.amount_fen),
                "refund_amount": fen_to_yuan(refund.amount_fen),
                "refund_reason": refund.reason,
                "refund_status": "REFUND_SUCCESS",
                "gmt_refund_pay": fmt_time(refund.gmt_refund),
            }

    # ------------------------------------------------------------ transfers
    def transfer(self, call: Call) -> dict[str, Any]:
        out_biz_no = _out_no(call, "out_biz_no")
        amount = _amount(call, "trans_amount", min_fen=TRANSFER_MIN_FEN)
        product_code = _text(call, "product_code", required=True, max_len=64)
        if product_code != "TRANS_ACCOUNT_NO_PWD":
            raise BusinessError("INVALID_PARAMETER", f"参数有误，product_code不支持{product_code}")
        biz_scene = _text(call, "biz_scene", max_len=64) or "DIRECT_TRANSFER"
        if biz_scene != "DIRECT_TRANSFER":
            raise BusinessError("INVALID_PARAMETER", f"参数有误，biz_scene不支持{biz_scene}")
        payee = call.biz.get("payee_info")
        if not isinstance(payee, dict) or not payee.get("identity") or not payee.get("identity_type"):
            raise BusinessError("INVALID_PARAMETER", "参数有误，payee_info.identity和identity_type必填")
        identity, identity_type = str(payee["identity"]), str(payee["identity_type"])
        name = str(payee.get("name") or "")
        if identity_type not in ("ALIPAY_USER_ID", "ALIPAY_LOGON_ID", "ALIPAY_OPEN_ID"):
            raise BusinessError("INVALID_PARAMETER", f"参数有误，identity_type不支持{identity_type}")
        if identity_type == "ALIPAY_LOGON_ID" and not name:
            raise BusinessError("INVALID_PARAMETER", "参数有误，identity_type为ALIPAY_LOGON_ID时name必填")
        key = (call.app.app_id, out_biz_no)
        with self.store.changing():
            transfer = self.store.transfers.get(key)
            if transfer is not None:
                if transfer.amount_fen != amount or transfer.payee_identity != identity:
                    raise BusinessError("PAYMENT_INFO_INCONSISTENCY", "两次请求商户单号一样，但是收款人或金额不一致")
            else:
                failing = identity.lower().startswith("fail")
                transfer = Transfer(
                    out_biz_no=out_biz_no,
                    app_id=call.app.app_id,
                    order_id=call.now.strftime("%Y%m%d") + new_digits("1100", 24),
                    pay_fund_order_id=call.now.strftime("%Y%m%d") + new_digits("1100", 24),
                    amount_fen=amount,
                    payee_identity=identity,
                    payee_identity_type=identity_type,
                    payee_name=name,
                    order_title=_text(call, "order_title", max_len=128),
                    remark=_text(call, "remark", max_len=200),
                    status="FAIL" if failing else "SUCCESS",
                    trans_date=call.now,
                    fail_code="PAYEE_NOT_EXIST" if failing else "",
                    fail_reason="收款账号不存在" if failing else "",
                )
                self.store.transfers[key] = transfer
            if transfer.status == "FAIL":
                raise BusinessError(transfer.fail_code, transfer.fail_reason)
            return {
                "out_biz_no": transfer.out_biz_no,
                "order_id": transfer.order_id,
                "pay_fund_order_id": transfer.pay_fund_order_id,
                "status": transfer.status,
                "trans_date": fmt_time(transfer.trans_date),
            }

    # ------------------------------------------------------------ bills
    def bill_url(self, call: Call) -> dict[str, Any]:
        bill_type = _text(call, "bill_type", required=True, max_len=32)
        bill_date = _text(call, "bill_date", required=True, max_len=10)
        if bill_type not in ("trade", "signcustomer"):
            raise BusinessError("isv.invalid-arguments", f"bill_type无效：{bill_type}")
        try:
            if len(bill_date) == 10:
                start = parse_time(bill_date + " 00:00:00")
                end, label = start + timedelta(days=1), start.strftime("%Y%m%d")
            else:
                start = parse_time(bill_date + "-01 00:00:00")
                end = (start + timedelta(days=32)).replace(day=1)
                label = start.strftime("%Y%m")
        except ValueError:
            raise BusinessError("isv.invalid-arguments", f"bill_date格式无效：{bill_date}") from None
        today = call.now.replace(hour=0, minute=0, second=0)
        # T+1 when strict: the whole period must be over before today; otherwise it need only have begun.
        available = end <= today if self.config.strict_bill_date else start <= call.now
        if bill_type != "trade" or not available:
            raise BusinessError("isp.bill_not_exist", "账单不存在")
        with self.store.lock:
            trades = [t for t in self.store.trades.values() if t.seller_id == call.app.seller_id]
            rows = bill_rows(trades, start, end)
        if not rows:
            raise BusinessError("isp.bill_not_exist", "账单不存在")
        filename, data = build_zip(call.app.seller_id, label, rows, start, end, call.now)
        token = secrets.token_hex(16)
        with self._bills_lock:
            self._bills[token] = (filename, data, time.monotonic() + self.config.bill_url_ttl)
        query = urlencode({
            "bizType": "trade",
            "userId": f"{call.app.seller_id}0156",
            "fileType": "csv.zip",
            "bizDates": label,
            "downloadFileName": filename,
            "fileId": token[:12],
            "token": token,
        })
        base = (self.config.public_url or call.base_url).rstrip("/")
        return {"bill_download_url": f"{base}/downloadBillFile.resource?{query}"}

    def bill_file(self, token: str) -> tuple[str, bytes] | None:
        with self._bills_lock:
            now = time.monotonic()
            for stale in [t for t, (_, _, until) in self._bills.items() if until < now]:
                del self._bills[stale]
            found = self._bills.get(token)
        return (found[0], found[1]) if found else None

    # ------------------------------------------------------------ paying
    def scan(self, trade: Trade) -> None:
        """The buyer opened the checkout (scanned the QR code): the trade becomes visible, with its buyer."""
        with self.store.changing():
            trade.scanned = True
            self._refresh(trade, self.config.clock())
            if trade.status == WAIT_BUYER_PAY and not trade.buyer_id:
                trade.buyer_logon_id = trade.buyer_logon_id or DEFAULT_BUYER
                trade.buyer_id = new_digits("2088", 16)

    def pay(self, trade: Trade, buyer_logon_id: str = "", buyer_id: str = "", notify: bool = True) -> str | None:
        """Mark ``trade`` paid by a sandbox buyer and queue its notification; returns the notify_id."""
        now = self.config.clock()
        with self.store.changing():
            self._refresh(trade, now)
            if trade.status != WAIT_BUYER_PAY:
                raise PayError(trade.status, f"trade is {trade.status}, not WAIT_BUYER_PAY")
            trade.status = TRADE_SUCCESS
            trade.scanned = True
            trade.gmt_payment = now
            # The buyer who scanned pays, unless another login is given (then it is another account).
            logon_id = buyer_logon_id or trade.buyer_logon_id or DEFAULT_BUYER
            if buyer_id or logon_id != trade.buyer_logon_id or not trade.buyer_id:
                trade.buyer_id = buyer_id or new_digits("2088", 16)
            trade.buyer_logon_id = logon_id
        if notify and trade.notify_url:
            return self._notify(trade).notify_id
        return None

    def finish(self, trade: Trade) -> None:
        """End the refund period of a paid trade (TRADE_FINISHED); no notification, as Alipay's default."""
        with self.store.changing():
            if trade.status != TRADE_SUCCESS:
                raise PayError(trade.status, f"trade is {trade.status}, not TRADE_SUCCESS")
            trade.status = TRADE_FINISHED

    def expire(self, trade: Trade) -> None:
        """Close an unpaid trade as its timeout would."""
        with self.store.changing():
            if trade.status != WAIT_BUYER_PAY:
                raise PayError(trade.status, f"trade is {trade.status}, not WAIT_BUYER_PAY")
            trade.status = TRADE_CLOSED
            trade.gmt_close = self.config.clock()

    def notification_fields(self, trade: Trade, refund: Refund | None = None) -> dict[str, str]:
        amount = fen_to_yuan(trade.amount_fen)
        fields = {
            "notify_type": "trade_status_sync",
            "app_id": trade.app_id,
            "auth_app_id": trade.app_id,
            "charset": trade.charset,  # Alipay notifies in the charset the trade was created with
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.status,
            "total_amount": amount,
            "receipt_amount": amount,
            "invoice_amount": amount,
            "buyer_pay_amount": amount,
            "point_amount": "0.00",
            "buyer_id": trade.buyer_id,
            "buyer_logon_id": mask_logon_id(trade.buyer_logon_id),
            "seller_id": trade.seller_id,
            "subject": trade.subject,
            "body": trade.body,
            "passback_params": trade.passback_params,
            "gmt_create": fmt_time(trade.gmt_create),
            "gmt_payment": fmt_time(trade.gmt_payment),
            "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}],
                                         separators=(",", ":")),
        }
        if refund is not None:
            fields["out_biz_no"] = refund.out_request_no
            fields["refund_fee"] = fen_to_yuan(trade.refunded_fen)
            fields["gmt_refund"] = fmt_time(refund.gmt_refund)
            if trade.status == TRADE_CLOSED:
                fields["gmt_close"] = fmt_time(trade.gmt_close)
        return {k: v for k, v in fields.items() if v}

    def _notify(self, trade: Trade, refund: Refund | None = None) -> Any:
        return self.notifier.submit(trade.notify_url, self.notification_fields(trade, refund), new_notify_id())

    def return_params(self, trade: Trade) -> dict[str, str]:
        """The GET parameters Alipay appends to return_url after a page/wap payment (display only)."""
        params = {
            "charset": trade.charset,
            "out_trade_no": trade.out_trade_no,
            "method": trade.method + ".return",
            "total_amount": fen_to_yuan(trade.amount_fen),
            "trade_no": trade.trade_no,
            "auth_app_id": trade.app_id,
            "version": "1.0",
            "app_id": trade.app_id,
            "sign_type": "RSA2",
            "seller_id": trade.seller_id,
            "timestamp": fmt_time(self.config.clock()),
        }
        params["sign"] = self.sign_v1(params)
        return params

    def return_url_of(self, trade: Trade) -> str:
        """Where the buyer's browser goes after paying: return_url plus the signed parameters, in its charset."""
        query = urlencode(self.return_params(trade), encoding=codec_of(trade.charset), errors="replace")
        return trade.return_url + ("&" if "?" in trade.return_url else "?") + query

    def app_pay_result(self, trade: Trade) -> dict[str, Any]:
        """What the mobile SDK hands the app after paying: resultStatus 9000 and a signed result string."""
        node = {
            "code": "10000",
            "msg": "Success",
            "app_id": trade.app_id,
            "auth_app_id": trade.app_id,
            "charset": "utf-8",
            "timestamp": fmt_time(self.config.clock()),
            "out_trade_no": trade.out_trade_no,
            "total_amount": fen_to_yuan(trade.amount_fen),
            "trade_no": trade.trade_no,
            "seller_id": trade.seller_id,
        }
        text = crypto.encode_node(node)
        sign = self.sign_node(text.encode("utf-8"))
        result = f'{{"alipay_trade_app_pay_response":{text},"sign":"{sign}","sign_type":"RSA2"}}'
        return {"resultStatus": "9000", "memo": "", "result": result}


def _error_node(exc: GatewayError | BusinessError) -> dict[str, Any]:
    node = {"code": exc.code, "msg": CODE_MSG.get(exc.code, ""), "sub_code": exc.sub_code, "sub_msg": exc.sub_msg}
    return {**node, **getattr(exc, "echo", {})}


def _system_error(rule: dict[str, Any]) -> BusinessError:
    code = str(rule.get("code") or "40004")
    default_sub = "isp.unknow-error" if code == "20000" else "ACQ.SYSTEM_ERROR"
    return BusinessError(rule.get("sub_code") or default_sub, rule.get("sub_msg") or "系统繁忙", code=code)


HANDLERS: dict[str, Callable[[Sandbox, Call], dict[str, Any]]] = {
    "alipay.trade.precreate": Sandbox.precreate,
    "alipay.trade.query": Sandbox.query,
    "alipay.trade.close": Sandbox.close,
    "alipay.trade.refund": Sandbox.refund,
    "alipay.trade.fastpay.refund.query": Sandbox.refund_query,
    "alipay.fund.trans.uni.transfer": Sandbox.transfer,
    "alipay.data.dataservice.bill.downloadurl.query": Sandbox.bill_url,
}
METHODS = frozenset(HANDLERS) | frozenset(PAGE_METHODS)
