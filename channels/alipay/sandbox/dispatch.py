"""Dispatch: from one request's merged parameters to a :class:`Reply`, as Alipay's gateway answers.

The gateway's own checks come first (method, app, signature, charset, timestamp, version: 40001/40002),
then the fault switches, then the method's handler (:data:`HANDLERS`; the page methods create a trade and
lead the browser to the checkout). ``app.py`` puts the reply on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import bills, crypto, refunds, trades, transfers
from .calls import BusinessError, Call, GatewayError, error_node, response_key
from .certificates import DOWNLOAD_METHOD
from .store import App, Trade
from .values import CHARSETS, codec_of

if TYPE_CHECKING:
    from .core import Sandbox

#: The browser and app flows: they create a trade and answer with the buyer's checkout, not a JSON node.
PAGE_METHODS = ("alipay.trade.page.pay", "alipay.trade.wap.pay", "alipay.trade.app.pay")

#: Server-to-server methods, each answered with its node's fields by a handler of its area's module.
HANDLERS: dict[str, Callable[[Sandbox, Call], dict[str, Any]]] = {
    "alipay.trade.precreate": trades.precreate,
    "alipay.trade.query": trades.query,
    "alipay.trade.close": trades.close,
    "alipay.trade.refund": refunds.refund,
    "alipay.trade.fastpay.refund.query": refunds.refund_query,
    "alipay.fund.trans.uni.transfer": transfers.transfer,
    "alipay.fund.trans.common.query": transfers.transfer_query,
    DOWNLOAD_METHOD: transfers.download_certificate,
    "alipay.data.dataservice.bill.downloadurl.query": bills.bill_url,
}
METHODS = frozenset(HANDLERS) | frozenset(PAGE_METHODS)


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
    app_id: str = ""  # as the request named it: a certificate-mode app's answers carry alipay_cert_sn

    @property
    def key(self) -> str:
        return response_key(self.method) if self.method in METHODS else "error_response"


def dispatch(sandbox: Sandbox, params: dict[str, str], base_url: str,
             request_faults: set[str] | None = None) -> Reply:
    method = params.get("method", "")
    charset = codec_of(params.get("charset"))
    with sandbox.store.lock:
        known_app = params.get("app_id", "") in sandbox.store.apps
    try:
        app = check_common(sandbox, params, charset)
    except GatewayError as exc:
        return Reply(method, error_node(exc), signed=known_app, charset=charset, error=exc,
                     app_id=params.get("app_id", "") if known_app else "")
    reply = Reply(method, charset=charset, app=app, app_id=app.app_id)
    faults = request_faults or set()
    reply.wrong_key = "wrong_sign" in faults or sandbox.faults.take("wrong_key_responses")
    timeout = next((f for f in faults if f == "timeout" or f.startswith("timeout=")), None)
    if timeout:
        reply.delay = float(timeout.partition("=")[2] or 30)
    else:
        reply.delay = sandbox.faults.take_timeout(method) or 0.0
    error_rule = sandbox.faults.take_system_error(method)
    if "system_error" in faults or "system_error_20000" in faults:
        error_rule = {"code": "20000" if "system_error_20000" in faults else "40004"}
    if error_rule is not None:
        system_error = _system_error(error_rule)
        reply.node, reply.error = error_node(system_error), system_error
        return reply
    try:
        biz = _biz_content(params)
        call = Call(method, app, params, biz, base_url.rstrip("/"), sandbox.config.clock(), faults)
        if method in PAGE_METHODS:
            reply.trade = trades.create_trade(sandbox, call)
            reply.node = {"code": "10000", "msg": "Success"}
        else:
            result = HANDLERS[method](sandbox, call)
            reply.node = {"code": "10000", "msg": "Success", **result}
    except (GatewayError, BusinessError) as exc:  # both signed: the app is known by now
        reply.node, reply.error = error_node(exc), exc
    return reply


def check_common(sandbox: Sandbox, params: dict[str, str], charset: str) -> App:
    """The gateway's checks of the common parameters and the signature; the app they name."""
    method = params.get("method", "")
    if not method:
        raise GatewayError("40001", "isv.missing-method", "缺少方法名参数")
    if method not in METHODS:
        raise GatewayError("40002", "isv.invalid-method", f"不存在的方法名 {method}")
    app_id = params.get("app_id", "")
    if not app_id:
        raise GatewayError("40001", "isv.missing-app-id", "缺少AppID参数")
    with sandbox.store.lock:
        app = sandbox.store.apps.get(app_id)
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
        datetime.strptime(timestamp, trades.TIMESTAMP_FORMAT)
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
    if not data or not crypto.verify_bytes(sandbox.app_key(app), data, params["sign"], sign_type):
        raise GatewayError(
            "40002",
            "isv.invalid-signature",
            # Alipay quotes its string-to-sign HTML-escaped: "&" arrives as "&amp;".
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
            + content.replace("&", "&amp;"),
        )
    refusal = sandbox.check_certificates(app_id, method, params)
    if refusal is not None:
        raise GatewayError(refusal.code, refusal.sub_code, refusal.sub_msg)
    return app


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


def _system_error(rule: dict[str, Any]) -> BusinessError:
    code = str(rule.get("code") or "40004")
    default_sub = "isp.unknow-error" if code == "20000" else "ACQ.SYSTEM_ERROR"
    return BusinessError(rule.get("sub_code") or default_sub, rule.get("sub_msg") or "系统繁忙", code=code)
