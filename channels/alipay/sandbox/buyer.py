"""The buyer's side, simulated: scanning a QR code, paying, what the browser and the mobile SDK get back.

Also the trade's life after payment that no API call drives (the refund period ending, an unpaid trade
timing out), which the admin API triggers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import crypto
from .store import TRADE_CLOSED, TRADE_FINISHED, TRADE_SUCCESS, WAIT_BUYER_PAY, Trade
from .trades import refresh
from .values import codec_of, fen_to_yuan, fmt_time, new_digits

if TYPE_CHECKING:
    from .core import Sandbox

DEFAULT_BUYER = "buyer@sandbox.example"


class PayError(Exception):
    """The trade is not in the state the action needs; ``status`` is the state it is in."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def scan(sandbox: Sandbox, trade: Trade) -> None:
    """The buyer opened the checkout (scanned the QR code): the trade becomes visible, with its buyer."""
    with sandbox.store.changing():
        trade.scanned = True
        refresh(trade, sandbox.config.clock())
        if trade.status == WAIT_BUYER_PAY and not trade.buyer_id:
            trade.buyer_logon_id = trade.buyer_logon_id or DEFAULT_BUYER
            trade.buyer_id = new_digits("2088", 16)


def pay(sandbox: Sandbox, trade: Trade, buyer_logon_id: str = "", buyer_id: str = "",
        notify: bool = True) -> str | None:
    """Mark ``trade`` paid by a sandbox buyer and queue its notification; returns the notify_id."""
    now = sandbox.config.clock()
    with sandbox.store.changing():
        refresh(trade, now)
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
        return sandbox.notify_trade(trade).notify_id
    return None


def finish(sandbox: Sandbox, trade: Trade) -> None:
    """End the refund period of a paid trade (TRADE_FINISHED); no notification, as Alipay's default."""
    with sandbox.store.changing():
        if trade.status != TRADE_SUCCESS:
            raise PayError(trade.status, f"trade is {trade.status}, not TRADE_SUCCESS")
        trade.status = TRADE_FINISHED


def expire(sandbox: Sandbox, trade: Trade) -> None:
    """Close an unpaid trade as its timeout would."""
    with sandbox.store.changing():
        if trade.status != WAIT_BUYER_PAY:
            raise PayError(trade.status, f"trade is {trade.status}, not WAIT_BUYER_PAY")
        trade.status = TRADE_CLOSED
        trade.gmt_close = sandbox.config.clock()


def return_params(sandbox: Sandbox, trade: Trade) -> dict[str, str]:
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
        "timestamp": fmt_time(sandbox.config.clock()),
    }
    params["sign"] = sandbox.sign_v1(params)
    return params


def return_url_of(sandbox: Sandbox, trade: Trade) -> str:
    """Where the buyer's browser goes after paying: return_url plus the signed parameters, in its charset."""
    query = urlencode(return_params(sandbox, trade), encoding=codec_of(trade.charset), errors="replace")
    return trade.return_url + ("&" if "?" in trade.return_url else "?") + query


def app_pay_result(sandbox: Sandbox, trade: Trade) -> dict[str, Any]:
    """What the mobile SDK hands the app after paying: resultStatus 9000 and a signed result string."""
    node = {
        "code": "10000",
        "msg": "Success",
        "app_id": trade.app_id,
        "auth_app_id": trade.app_id,
        "charset": "utf-8",
        "timestamp": fmt_time(sandbox.config.clock()),
        "out_trade_no": trade.out_trade_no,
        "total_amount": fen_to_yuan(trade.amount_fen),
        "trade_no": trade.trade_no,
        "seller_id": trade.seller_id,
    }
    text = crypto.encode_node(node)
    sign = sandbox.sign_node(text.encode("utf-8"), app_id=trade.app_id)
    result = f'{{"alipay_trade_app_pay_response":{text},"sign":"{sign}","sign_type":"RSA2"}}'
    return {"resultStatus": "9000", "memo": "", "result": result}
