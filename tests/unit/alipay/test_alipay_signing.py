"""Request signing: pinned vectors, and a cross-check against an independent pycryptodome RSA2."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote

import pytest
from alipay_testkit import APP_ID, FIXED_NOW, FIXTURES
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15

from channels.alipay.rail import AlipayConfigError, PrivateKey, PublicKey, PublicKeyCredentials
from channels.alipay.rail.clock import beijing_timestamp
from channels.alipay.rail.signed_request import build_signed_request
from channels.alipay.rail.signing import NOTIFY_UNSIGNED_KEYS, rsa2_sign, rsa2_verify, string_to_sign

BIZ = {"out_trade_no": "T20240102001", "total_amount": "88.88", "subject": "测试商品 A+B"}
NOTIFY_URL = "https://cashier.test/notify/alipay?a=1&b=2"

# Pinned once from pycryptodome (see independent_* below) over the TEST-ONLY app key.
EXPECTED_STRING_TO_SIGN = (
    'app_id=2021000000000001&biz_content={"out_trade_no":"T20240102001","total_amount":"88.88",'
    '"subject":"测试商品 A+B"}&charset=utf-8&format=JSON&method=alipay.trade.precreate'
    "&notify_url=https://cashier.test/notify/alipay?a=1&b=2&sign_type=RSA2"
    "&timestamp=2024-01-02 03:04:05&version=1.0"
)
EXPECTED_SIGN = (
    "Is+/GlHL9+CRjeCRiLnUK+cii71Kn7PwVv7KsKmXkBXNh2TgmjkwjGjrssJaDV2/WBCY9VN8vSStnguqnxlOuJb0ufAlxN/e"
    "xEqK/rZFPTsMtcqcUJt4UL7mv74a41O86WaeRKrH6oLZFQftT4dC2arl1SqQvcaVxyPOzhtze7zdTfxHPai9bgy2oL12/H5L"
    "iPX4duu2v4c5BMzyxSrYC9UbZEkIiAY/TVrWn5cm74x/kp0yQJ1OZuSvJLrM/mhQHH+TaZRu53VqLONOc/XQnCtv2igoyU3Y"
    "HqmX5N2o+5d2k3ea3sCzk1RzfyhR/j0VEUJkH3Fad3NkaJQfLYGwQQ=="
)


# --- an independent RSA2, sharing no code with the rail ----------------------------------------------


def independent_canonical(params: dict[str, str | None], skip: tuple[str, ...] = ("sign",)) -> str:
    kept = {k: v for k, v in params.items() if k not in skip and v}
    return "&".join(k + "=" + kept[k] for k in sorted(kept))


def independent_sign(params: dict[str, str | None]) -> str:
    key = RSA.import_key((FIXTURES / "app_private_pkcs1.pem").read_text())
    digest = SHA256.new(independent_canonical(params).encode("utf-8"))
    return base64.b64encode(pkcs1_15.new(key).sign(digest)).decode()


def independent_verify(params: dict[str, str], pem_name: str = "app_public.pem") -> bool:
    key = RSA.import_key((FIXTURES / pem_name).read_text())
    digest = SHA256.new(independent_canonical(params).encode("utf-8"))
    try:
        pkcs1_15.new(key).verify(digest, base64.b64decode(params["sign"]))
    except ValueError:
        return False
    return True


# --- tests ----------------------------------------------------------------------------------------------


def test_pinned_vector_string_to_sign_and_signature(credentials: PublicKeyCredentials) -> None:
    request = build_signed_request(
        credentials, "alipay.trade.precreate", BIZ, now=FIXED_NOW, notify_url=NOTIFY_URL
    )
    assert string_to_sign(request.all_params()) == EXPECTED_STRING_TO_SIGN
    assert request.sign == EXPECTED_SIGN


def test_independent_implementation_agrees_on_the_pinned_vector(credentials: PublicKeyCredentials) -> None:
    request = build_signed_request(
        credentials, "alipay.trade.precreate", BIZ, now=FIXED_NOW, notify_url=NOTIFY_URL
    )
    params = request.all_params()
    assert independent_canonical(params) == EXPECTED_STRING_TO_SIGN
    assert independent_sign(params) == EXPECTED_SIGN
    assert independent_verify(params)


@pytest.mark.parametrize(
    "params",
    [
        {"b": "2", "a": "1", "sign": "ignored", "empty": "", "none": None},
        {"Z": "upper sorts before lower", "a": "x", "_": "underscore", "9": "digit"},
        {"biz_content": '{"subject":"中文 & = + % 空格"}', "sign_type": "RSA2", "charset": "utf-8"},
    ],
)
def test_signing_matches_pycryptodome_for_varied_parameters(app_private_key: PrivateKey, params) -> None:
    ours = rsa2_sign(app_private_key, string_to_sign(params))
    assert ours == independent_sign(params)
    assert rsa2_verify(app_private_key.public_key(), independent_canonical(params).encode(), ours)


def test_string_to_sign_drops_sign_and_empties_but_keeps_sign_type() -> None:
    params = {"sign": "x", "sign_type": "RSA2", "a": "", "b": None, "c": "3"}
    assert string_to_sign(params) == "c=3&sign_type=RSA2"
    assert string_to_sign(params, exclude=NOTIFY_UNSIGNED_KEYS) == "c=3"


def test_values_are_raw_not_url_encoded() -> None:
    assert string_to_sign({"u": "https://x/y?a=1&b=%20"}) == "u=https://x/y?a=1&b=%20"


@pytest.mark.parametrize(
    "name",
    [
        "app_private_pkcs1.pem",
        "app_private_pkcs8.pem",
        "app_private_pkcs8.b64.txt",
        "app_private_pkcs1.b64.txt",
    ],
)
def test_every_key_format_signs_identically(name: str, alipay_public_key: PublicKey) -> None:
    creds = PublicKeyCredentials(APP_ID, PrivateKey.from_file(FIXTURES / name), alipay_public_key)
    request = build_signed_request(creds, "alipay.trade.precreate", BIZ, now=FIXED_NOW, notify_url=NOTIFY_URL)
    assert request.sign == EXPECTED_SIGN


def test_tampered_parameter_or_wrong_key_does_not_verify(credentials: PublicKeyCredentials) -> None:
    params = build_signed_request(
        credentials, "alipay.trade.query", {"out_trade_no": "T1"}, now=FIXED_NOW
    ).all_params()
    assert independent_verify(params)
    assert not independent_verify({**params, "biz_content": '{"out_trade_no":"T2"}'})
    assert not independent_verify({**params, "app_id": "2021000000000002"})
    assert not independent_verify(params, pem_name="alipay_public.pem")


def test_verify_rejects_garbage_signatures(app_private_key: PrivateKey) -> None:
    public = app_private_key.public_key()
    good = rsa2_sign(app_private_key, "a=1")
    assert rsa2_verify(public, b"a=1", good)
    assert not rsa2_verify(public, b"a=2", good)
    assert not rsa2_verify(public, b"a=1", "not base64 !!")
    assert not rsa2_verify(public, b"a=1", "")


def test_common_parameters_and_wire_layout(credentials: PublicKeyCredentials) -> None:
    request = build_signed_request(
        credentials, "alipay.trade.query", {"out_trade_no": "T1"}, now=FIXED_NOW, app_auth_token="tok"
    )
    assert request.protocol_params == {
        "app_id": APP_ID,
        "sign_type": "RSA2",
        "method": "alipay.trade.query",
        "format": "JSON",
        "charset": "utf-8",
        "timestamp": "2024-01-02 03:04:05",
        "version": "1.0",
        "app_auth_token": "tok",
        "sign": request.sign,
    }
    query = dict(parse_qsl(request.query_string()))
    assert query["sign"] == request.sign and "biz_content" not in query
    assert dict(parse_qsl(request.form_body().decode())) == {"biz_content": '{"out_trade_no":"T1"}'}


def test_biz_content_is_compact_and_keeps_chinese(credentials: PublicKeyCredentials) -> None:
    request = build_signed_request(credentials, "m", {"subject": "测试", "n": [1, 2]}, now=FIXED_NOW)
    assert request.biz_content == '{"subject":"测试","n":[1,2]}'


def test_timestamp_is_beijing_time_whatever_the_machine_zone(
    credentials: PublicKeyCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        request = build_signed_request(credentials, "m", None, now=FIXED_NOW)
        assert request.protocol_params["timestamp"] == "2024-01-02 03:04:05"
        other_zone = FIXED_NOW.astimezone(timezone(timedelta(hours=-5)))
        assert beijing_timestamp(other_zone) == "2024-01-02 03:04:05"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_naive_clock_is_refused(credentials: PublicKeyCredentials) -> None:
    with pytest.raises(AlipayConfigError, match="timezone-aware"):
        build_signed_request(credentials, "m", None, now=datetime(2024, 1, 1))


def test_order_string_has_sign_last_and_round_trips(credentials: PublicKeyCredentials) -> None:
    request = build_signed_request(
        credentials, "alipay.trade.app.pay", BIZ, now=FIXED_NOW, notify_url=NOTIFY_URL
    )
    order = request.order_string()
    pairs = parse_qsl(order)
    assert pairs[-1] == ("sign", request.sign)
    assert [k for k, _ in pairs[:-1]] == sorted(k for k, _ in pairs[:-1])
    assert independent_verify(dict(pairs))
    # Raw '+', '/', '=' from the Base64 signature or '&' in notify_url would corrupt the order string.
    assert order.endswith("sign=" + quote(request.sign, safe=""))
    assert "notify_url=https%3A%2F%2Fcashier.test%2Fnotify%2Falipay%3Fa%3D1%26b%3D2" in order


def test_credentials_refuse_the_apps_own_public_key_as_alipays(app_private_key: PrivateKey) -> None:
    with pytest.raises(AlipayConfigError, match="app's own public key"):
        PublicKeyCredentials(APP_ID, app_private_key, app_private_key.public_key())


def test_credentials_repr_hides_key_material(credentials: PublicKeyCredentials) -> None:
    text = repr(credentials)
    assert APP_ID in text and "MII" not in text and "BEGIN" not in text
