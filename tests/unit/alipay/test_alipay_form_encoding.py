"""The wire forms' own form-encoding (issue 20: urlencode was a tenth of the order string and signature) gives
exactly the bytes urllib's did, and what it builds still verifies with Alipay's official SDK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa
from alipay_testkit import FIXED_NOW
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from channels.alipay.rail import AlipayClient, PrivateKey, PublicKeyCredentials
from channels.alipay.rail.errors import ParameterError
from channels.alipay.rail.signed_request import build_signed_request, form_quote, form_urlencode

# Any text, lone surrogates included (both encoders must refuse those alike).
TEXT = st.text(st.characters(), max_size=60)
SCALARS = st.characters(exclude_categories=["Cs"])  # what UTF-8 can encode
NONEMPTY = st.text(SCALARS, min_size=1, max_size=60)
# The keys, credentials and client the fixtures give keep no state between examples (signing makes no call).
STATELESS_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _encoded(f: Any, value: str) -> str | type[BaseException]:
    try:
        return f(value)
    except UnicodeEncodeError:
        return UnicodeEncodeError


@given(TEXT)
def test_form_quote_is_quote_plus(value: str) -> None:
    assert _encoded(form_quote, value) == _encoded(quote_plus, value)


def test_form_quote_is_quote_plus_for_every_code_point() -> None:
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert form_quote(everything) == quote_plus(everything)


@given(st.lists(st.tuples(NONEMPTY, TEXT.filter(lambda v: not any(0xD800 <= ord(c) < 0xE000 for c in v)))))
def test_form_urlencode_is_urlencode(pairs: list[tuple[str, str]]) -> None:
    assert form_urlencode(pairs) == urlencode(pairs, encoding="utf-8")


def _sdk_key(app_private_key: PrivateKey) -> str:
    """The app's public key as the official SDK takes it (PEM body without the markers)."""
    pem = app_private_key.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


@STATELESS_FIXTURES
@given(biz=st.dictionaries(st.text(SCALARS, min_size=1, max_size=12),
                           NONEMPTY, max_size=5),
       notify_url=st.none() | st.text(SCALARS, min_size=1, max_size=256))
def test_signed_request_wire_forms_are_urllibs_and_verify_with_the_official_sdk(
    credentials: PublicKeyCredentials, app_private_key: PrivateKey, biz: dict[str, str], notify_url: str | None
) -> None:
    request = build_signed_request(credentials, "alipay.trade.app.pay", biz, now=FIXED_NOW, notify_url=notify_url)
    params = request.all_params()
    sign = params.pop("sign")
    assert request.order_string() == urlencode([*sorted(params.items()), ("sign", sign)], encoding="utf-8")
    assert request.query_string() == urlencode(request.protocol_params, encoding="utf-8")
    assert request.form_body() == urlencode({"biz_content": request.biz_content}, encoding="utf-8").encode()
    # What the app's SDK receives, decoded as it decodes it, carries a signature over exactly those values.
    received = dict(parse_qsl(request.order_string(), keep_blank_values=True, strict_parsing=True))
    sent_sign = received.pop("sign")
    assert received == params
    assert verify_with_rsa(_sdk_key(app_private_key), get_sign_content(received).encode(), sent_sign)


@STATELESS_FIXTURES
@given(subject=NONEMPTY, amount=st.integers(1, 10_000_000_00), seconds=st.integers(60, 15 * 86400),
       out_trade_no=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_app_pay_order_string_is_urllibs_and_verifies(
    client: AlipayClient, app_private_key: PrivateKey, subject: str, amount: int, seconds: int, out_trade_no: str
) -> None:
    try:
        order = client.app_pay(out_trade_no=out_trade_no, total_amount_fen=amount, subject=subject,
                               time_expire=datetime(2026, 11, 28, tzinfo=UTC) + timedelta(seconds=seconds))
    except ParameterError:
        assume(False)
    pairs = parse_qsl(order.order_string, keep_blank_values=True, strict_parsing=True)
    assert order.order_string == urlencode(pairs, encoding="utf-8")
    params = dict(pairs)
    sign = params.pop("sign")
    assert verify_with_rsa(_sdk_key(app_private_key), get_sign_content(params).encode(), sign)
