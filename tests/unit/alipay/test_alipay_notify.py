"""Notifications: forged, foreign-app and mismatching notifications fail in distinguishable ways."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

import pytest
from alipay_testkit import APP_ID, alipay_sign

from channels.alipay.rail import (
    ACK,
    AmountMismatchError,
    NotificationAppMismatchError,
    NotificationFormatError,
    NotificationOrderMismatchError,
    NotificationSignatureError,
    OutTradeNoMismatchError,
    PublicKeyCredentials,
    SellerMismatchError,
    TradeStatus,
    check_against_order,
    parse_trade_notification,
)
from channels.alipay.rail.clock import BEIJING

FORM_CT = "application/x-www-form-urlencoded; text/html; charset=UTF-8"  # as Alipay sends it


def fields(**overrides: str) -> dict[str, str]:
    base = {
        "gmt_create": "2024-01-02 03:04:05",
        "charset": "utf-8",
        "seller_email": "shop@example.com",
        "subject": "测试商品 & 100%",
        "sign_type": "RSA2",
        "buyer_id": "2088102177846880",
        "invoice_amount": "88.88",
        "notify_id": "2024010200222030406046880512345678",
        "fund_bill_list": '[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]',
        "notify_type": "trade_status_sync",
        "trade_status": "TRADE_SUCCESS",
        "receipt_amount": "88.88",
        "app_id": APP_ID,
        "buyer_pay_amount": "88.88",
        "seller_id": "2088102177000001",
        "gmt_payment": "2024-01-02 03:04:06",
        "notify_time": "2024-01-02 03:04:07",
        "passback_params": "order%3D1",
        "version": "1.0",
        "out_trade_no": "T20240102001",
        "total_amount": "88.88",
        "trade_no": "2024010222001446880500012345",
        "auth_app_id": APP_ID,
        "buyer_logon_id": "159****5620",
        "point_amount": "0.00",
        "body": "",  # empty values are not signed
    }
    base.update(overrides)
    return base


def sign_like_alipay(values: dict[str, str], charset: str = "utf-8") -> dict[str, str]:
    # Written independently of the rail: drop sign, sign_type and empties; sort; raw k=v joined by &.
    kept = sorted((k, v) for k, v in values.items() if k not in ("sign", "sign_type") and v != "")
    return {**values, "sign": alipay_sign("&".join(f"{k}={v}" for k, v in kept), charset)}


def body_of(values: dict[str, str], charset: str = "utf-8") -> bytes:
    return urlencode(values, encoding=charset).encode("ascii")


def test_genuine_notification_is_parsed(credentials: PublicKeyCredentials) -> None:
    note = parse_trade_notification(body_of(sign_like_alipay(fields())), FORM_CT, credentials)
    assert note.trade_status is TradeStatus.TRADE_SUCCESS and note.trade_status.is_paid
    assert (note.out_trade_no, note.total_amount_fen, note.receipt_amount_fen) == ("T20240102001", 8888, 8888)
    assert note.gmt_payment == datetime(2024, 1, 2, 3, 4, 6, tzinfo=BEIJING)
    assert note.raw["subject"] == "测试商品 & 100%"  # decoded exactly once
    assert note.raw["passback_params"] == "order%3D1"  # Alipay's own encoding is kept
    assert note.buyer_id == "2088102177846880" and note.notify_id.startswith("2024")
    check_against_order(
        note, out_trade_no="T20240102001", total_amount_fen=8888, seller_id="2088102177000001"
    )
    assert ACK == "success"


def test_gbk_notification(credentials: PublicKeyCredentials) -> None:
    values = sign_like_alipay(fields(charset="gbk", subject="中文商品"), charset="gbk")
    note = parse_trade_notification(body_of(values, "gbk"), "application/x-www-form-urlencoded", credentials)
    assert note.raw["subject"] == "中文商品"


def test_gbk_notification_without_charset_field_uses_the_content_type(
    credentials: PublicKeyCredentials,
) -> None:
    values = fields(subject="中文商品")
    del values["charset"]
    body = body_of(sign_like_alipay(values, charset="gbk"), "gbk")
    note = parse_trade_notification(body, "application/x-www-form-urlencoded; charset=GBK", credentials)
    assert note.raw["subject"] == "中文商品"


def test_tampered_field_is_a_signature_error(credentials: PublicKeyCredentials) -> None:
    values = sign_like_alipay(fields())
    values["total_amount"] = "0.01"
    with pytest.raises(NotificationSignatureError):
        parse_trade_notification(body_of(values), FORM_CT, credentials)


def test_signature_by_another_key_is_a_signature_error(credentials: PublicKeyCredentials) -> None:
    import base64

    from alipay_testkit import _load_rsa_private
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    values = fields()
    content = "&".join(f"{k}={v}" for k, v in sorted(values.items()) if k != "sign_type" and v)
    own = _load_rsa_private("app_private_pkcs1.pem").sign(
        content.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    values["sign"] = base64.b64encode(own).decode()
    with pytest.raises(NotificationSignatureError):
        parse_trade_notification(body_of(values), FORM_CT, credentials)


def test_missing_sign_or_weaker_sign_type_is_refused(credentials: PublicKeyCredentials) -> None:
    with pytest.raises(NotificationSignatureError, match="sign: missing"):
        parse_trade_notification(body_of(fields()), FORM_CT, credentials)
    with pytest.raises(NotificationSignatureError, match="sign_type"):
        parse_trade_notification(body_of(sign_like_alipay(fields(sign_type="RSA"))), FORM_CT, credentials)


def test_other_app_is_an_app_mismatch_not_a_signature_error(credentials: PublicKeyCredentials) -> None:
    body = body_of(sign_like_alipay(fields(app_id="2021000000009999")))
    with pytest.raises(NotificationAppMismatchError) as info:
        parse_trade_notification(body, FORM_CT, credentials)
    assert not isinstance(info.value, NotificationSignatureError)


def test_wrong_amount_and_wrong_order_are_distinct_mismatches(credentials: PublicKeyCredentials) -> None:
    note = parse_trade_notification(body_of(sign_like_alipay(fields())), FORM_CT, credentials)
    with pytest.raises(AmountMismatchError) as amount:
        check_against_order(note, out_trade_no="T20240102001", total_amount_fen=8887)
    assert amount.value.field == "total_amount" and "8888" in str(amount.value)
    with pytest.raises(OutTradeNoMismatchError):
        check_against_order(note, out_trade_no="T-other", total_amount_fen=8888)
    with pytest.raises(SellerMismatchError):
        check_against_order(note, out_trade_no="T20240102001", total_amount_fen=8888, seller_id="2088000")
    for exc in (amount.value,):
        assert isinstance(exc, NotificationOrderMismatchError) and not isinstance(
            exc, NotificationSignatureError
        )


def test_duplicate_fields_are_refused(credentials: PublicKeyCredentials) -> None:
    body = body_of(sign_like_alipay(fields())) + b"&total_amount=0.01"
    with pytest.raises(NotificationFormatError, match="total_amount"):
        parse_trade_notification(body, FORM_CT, credentials)


def test_percent_escapes_are_decoded_once(credentials: PublicKeyCredentials) -> None:
    values = sign_like_alipay(fields(body="%41"))  # a literal "%41", not "A"
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in values.items()).encode()
    note = parse_trade_notification(body, FORM_CT, credentials)
    assert note.raw["body"] == "%41"


def test_unknown_status_or_bad_amount_is_a_format_error(credentials: PublicKeyCredentials) -> None:
    with pytest.raises(NotificationFormatError, match="trade_status"):
        parse_trade_notification(body_of(sign_like_alipay(fields(trade_status="PAID"))), FORM_CT, credentials)
    with pytest.raises(NotificationFormatError, match="total_amount"):
        parse_trade_notification(
            body_of(sign_like_alipay(fields(total_amount="88.888"))), FORM_CT, credentials
        )
