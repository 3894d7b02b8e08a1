"""Asynchronous trade notifications: decode, verify, check app, then check against the stored order.

The three ways a notification can be wrong raise three different exceptions, because they mean
different things to an operator:

* ``NotificationSignatureError``: not from Alipay (forged, corrupted, or we hold the wrong key).
* ``NotificationAppMismatchError``: genuine, but for another app (e.g. sandbox traffic).
* ``NotificationOrderMismatchError`` (out_trade_no / amount / seller): genuine and ours, yet it
  disagrees with what we stored. Money may have moved: flag it, never silently drop it.

Only after all checks may the gateway change state and reply :data:`ACK` (anything else makes Alipay
resend for about 25 hours, so rejected notifications keep coming back until fixed).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote_to_bytes

from channels.alipay.rail.clock import BEIJING
from channels.alipay.rail.errors import (
    AmountError,
    AmountMismatchError,
    NotificationAppMismatchError,
    NotificationFormatError,
    NotificationSignatureError,
    OutTradeNoMismatchError,
    SellerMismatchError,
)
from channels.alipay.rail.money import yuan_to_fen
from channels.alipay.rail.responses import charset_from_content_type
from channels.alipay.rail.signing import (
    NOTIFY_UNSIGNED_KEYS,
    SIGN_TYPE_RSA2,
    AlipayCredentials,
    string_to_sign,
)

#: The exact reply that stops Alipay's resends (lower case; JEE's "SUCCESS" is a known bug).
ACK = "success"

_CHARSET_VALUE = re.compile(r"[A-Za-z0-9_.:-]{1,20}")


class TradeStatus(str, enum.Enum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    #: Unpaid and timed out, or fully refunded: look at refund_fee to tell which.
    TRADE_CLOSED = "TRADE_CLOSED"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    #: Paid and no longer refundable.
    TRADE_FINISHED = "TRADE_FINISHED"

    @property
    def is_paid(self) -> bool:
        return self in (TradeStatus.TRADE_SUCCESS, TradeStatus.TRADE_FINISHED)


@dataclass(frozen=True)
class TradeNotification:
    """A verified notification for our app. Amounts are fen; times are Beijing-aware datetimes."""

    notify_id: str
    notify_type: str | None
    notify_time: datetime | None
    app_id: str
    out_trade_no: str
    trade_no: str
    trade_status: TradeStatus
    total_amount_fen: int
    receipt_amount_fen: int | None
    buyer_pay_amount_fen: int | None
    refund_fee_fen: int | None
    buyer_id: str | None
    buyer_logon_id: str | None
    seller_id: str | None
    out_biz_no: str | None
    gmt_payment: datetime | None
    gmt_refund: datetime | None
    gmt_close: datetime | None
    #: Every field as received, decoded once (fund_bill_list stays a JSON string, passback_params
    #: stays URL-encoded as Alipay sends it).
    raw: Mapping[str, str] = field(repr=False)


def decode_notification_body(body: bytes, content_type: str | None = None) -> dict[str, str]:
    """Form-decode once, in the charset the notification declares (its ``charset`` field first).

    Duplicate keys are refused: which one a framework keeps differs, so a duplicate could make us
    verify one value and act on another.
    """
    if not isinstance(body, bytes):
        raise NotificationFormatError("notification body must be bytes")
    raw_pairs = []
    for chunk in body.split(b"&"):
        if not chunk:
            continue
        raw_key, _, raw_value = chunk.partition(b"=")
        raw_pairs.append((_percent_decode(raw_key), _percent_decode(raw_value)))
    charset = _declared_charset(raw_pairs) or charset_from_content_type(content_type)
    fields: dict[str, str] = {}
    for key_bytes, value_bytes in raw_pairs:
        try:
            key = key_bytes.decode(charset)
            value = value_bytes.decode(charset)
        except LookupError:
            raise NotificationFormatError(f"charset {charset!r} is unknown") from None
        except UnicodeDecodeError:
            raise NotificationFormatError(f"notification is not valid {charset}") from None
        if key in fields:
            raise NotificationFormatError(f"{key}: appears more than once")
        fields[key] = value
    if not fields:
        raise NotificationFormatError("notification body is empty")
    return fields


def verify_notification_signature(
    fields: Mapping[str, str], credentials: AlipayCredentials, *, charset: str | None = None
) -> None:
    """Check ``sign`` over all fields except sign/sign_type, empty ones dropped (rsaCheckV1).

    The content is encoded in the charset the body was decoded with (``charset`` field first, then
    the Content-Type's), as the Java SDK does; a GBK notification is signed over GBK bytes.
    """
    sign = fields.get("sign")
    if not sign:
        raise NotificationSignatureError("sign: missing")
    sign_type = fields.get("sign_type") or SIGN_TYPE_RSA2
    if sign_type != SIGN_TYPE_RSA2:
        # sign_type is not covered by the signature, so it must not be allowed to pick a weaker check.
        raise NotificationSignatureError(f"sign_type: {sign_type!r} is not RSA2")
    charset = (charset or fields.get("charset") or "utf-8").lower()
    content = string_to_sign(fields, exclude=NOTIFY_UNSIGNED_KEYS)
    try:
        data = content.encode(charset)
    except (LookupError, UnicodeEncodeError):
        raise NotificationSignatureError(
            f"charset: cannot encode the signed content as {charset!r}"
        ) from None
    if not credentials.verify_notification(data, sign, fields.get("alipay_cert_sn")):
        raise NotificationSignatureError("sign: does not verify with Alipay's public key")


def parse_trade_notification(
    body: bytes, content_type: str | None, credentials: AlipayCredentials
) -> TradeNotification:
    """Decode, verify the signature, check app_id, and return the typed notification."""
    fields = decode_notification_body(body, content_type)
    charset = fields.get("charset") or charset_from_content_type(content_type)
    verify_notification_signature(fields, credentials, charset=charset)
    app_id = fields.get("app_id")
    if app_id != credentials.app_id:
        raise NotificationAppMismatchError(f"app_id: notification is for app {app_id!r}, not ours")
    return _build(fields)


def check_against_order(
    notification: TradeNotification,
    *,
    out_trade_no: str,
    total_amount_fen: int,
    seller_id: str | None = None,
) -> None:
    """Compare with the stored order; raises an ``NotificationOrderMismatchError`` subclass.

    ``seller_id`` is checked only when given (the payee's PID, known once the merchant is configured).
    """
    if notification.out_trade_no != out_trade_no:
        raise OutTradeNoMismatchError(
            "out_trade_no", f"notification names {notification.out_trade_no!r}, expected {out_trade_no!r}"
        )
    if notification.total_amount_fen != total_amount_fen:
        raise AmountMismatchError(
            "total_amount",
            f"notification says {notification.total_amount_fen} fen, order is {total_amount_fen} fen",
        )
    if seller_id is not None:
        check_seller(notification, seller_id)


def check_seller(notification: TradeNotification, seller_id: str) -> None:
    """The payee (seller_id, a PID such as 2088…) must be ours: a genuine notification for our app but paid
    to another Alipay account is money that did not reach us. A notification without one is refused too."""
    if notification.seller_id != seller_id:
        raise SellerMismatchError(
            "seller_id", f"notification's seller is {notification.seller_id!r}, not the expected payee {seller_id!r}")


def _build(fields: Mapping[str, str]) -> TradeNotification:
    status_text = _required(fields, "trade_status")
    try:
        status = TradeStatus(status_text)
    except ValueError:
        raise NotificationFormatError(f"trade_status: {status_text!r} is not a known status") from None
    return TradeNotification(
        notify_id=_required(fields, "notify_id"),
        notify_type=fields.get("notify_type") or None,
        notify_time=_time(fields, "notify_time"),
        app_id=_required(fields, "app_id"),
        out_trade_no=_required(fields, "out_trade_no"),
        trade_no=_required(fields, "trade_no"),
        trade_status=status,
        total_amount_fen=_amount(fields, "total_amount", required=True) or 0,
        receipt_amount_fen=_amount(fields, "receipt_amount"),
        buyer_pay_amount_fen=_amount(fields, "buyer_pay_amount"),
        refund_fee_fen=_amount(fields, "refund_fee"),
        buyer_id=fields.get("buyer_id") or None,
        buyer_logon_id=fields.get("buyer_logon_id") or None,
        seller_id=fields.get("seller_id") or None,
        out_biz_no=fields.get("out_biz_no") or None,
        gmt_payment=_time(fields, "gmt_payment"),
        gmt_refund=_time(fields, "gmt_refund"),
        gmt_close=_time(fields, "gmt_close"),
        raw=dict(fields),
    )


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        raise NotificationFormatError(f"{name}: missing")
    return value


def _amount(fields: Mapping[str, str], name: str, *, required: bool = False) -> int | None:
    value = fields.get(name)
    if not value:
        if required:
            raise NotificationFormatError(f"{name}: missing")
        return None
    try:
        return yuan_to_fen(value, field=name)
    except AmountError as exc:
        raise NotificationFormatError(str(exc)) from None


def _time(fields: Mapping[str, str], name: str) -> datetime | None:
    value = fields.get(name)
    if not value:
        return None
    try:
        # gmt_refund may carry milliseconds ("2019-01-01 12:00:00.123").
        fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in value else "%Y-%m-%d %H:%M:%S"
        return datetime.strptime(value, fmt).replace(tzinfo=BEIJING)
    except ValueError:
        raise NotificationFormatError(f"{name}: {value[:32]!r} is not yyyy-MM-dd HH:mm:ss") from None


def _percent_decode(data: bytes) -> bytes:
    # '+' is a space in form encoding; percent escapes are decoded exactly once.
    return unquote_to_bytes(data.replace(b"+", b" "))


def _declared_charset(pairs: list[tuple[bytes, bytes]]) -> str | None:
    for key, value in pairs:
        if key == b"charset":
            text = value.decode("ascii", errors="replace").strip()
            if _CHARSET_VALUE.fullmatch(text):
                return text.lower()
            raise NotificationFormatError("charset: not a charset name")
    return None
