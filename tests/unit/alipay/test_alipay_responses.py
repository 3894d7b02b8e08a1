"""Response nodes are verified over the exact bytes sent, and only the verified text is believed."""

from __future__ import annotations

import json

import pytest
from alipay_testkit import alipay_sign, signed_body

from channels.alipay.rail import PublicKeyCredentials
from channels.alipay.rail.errors import MalformedResponseError, ResponseSignatureError
from channels.alipay.rail.responses import charset_from_content_type, extract_node, verify_response

METHOD = "alipay.trade.query"
CT = "text/html;charset=utf-8"


def test_verified_node_is_parsed_from_the_exact_text(credentials: PublicKeyCredentials) -> None:
    node = '{"code":"10000","msg":"Success","out_trade_no":"T1", "trade_status" : "TRADE_SUCCESS"}'
    body = signed_body(METHOD, node)
    verified = verify_response(body.encode(), CT, METHOD, credentials)
    assert verified.signed and verified.fields["trade_status"] == "TRADE_SUCCESS"
    assert extract_node(body, METHOD).text == node  # spacing preserved, never re-dumped


def test_chinese_text_verifies_over_raw_utf8_bytes(credentials: PublicKeyCredentials) -> None:
    node = '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}'
    verified = verify_response(signed_body(METHOD, node).encode("utf-8"), CT, METHOD, credentials)
    assert verified.fields["sub_msg"] == "交易不存在"


def test_gbk_response_is_decoded_with_the_content_type_charset(credentials: PublicKeyCredentials) -> None:
    node = '{"code":"10000","msg":"Success","subject":"测试"}'
    body = f'{{"alipay_trade_query_response":{node},"sign":"{alipay_sign(node, "gbk")}"}}'.encode("gbk")
    verified = verify_response(body, "text/html;charset=GBK", METHOD, credentials)
    assert verified.fields["subject"] == "测试"
    with pytest.raises((ResponseSignatureError, MalformedResponseError)):
        verify_response(body, CT, METHOD, credentials)


def test_escaped_slashes_verify_as_sent(credentials: PublicKeyCredentials) -> None:
    node = r'{"code":"10000","msg":"Success","qr_code":"https:\/\/qr.alipay.com\/bax03431"}'
    verified = verify_response(
        signed_body("alipay.trade.precreate", node).encode(), CT, "alipay.trade.precreate", credentials
    )
    assert verified.fields["qr_code"] == "https://qr.alipay.com/bax03431"


def test_escaped_slashes_signed_unescaped_verify_on_the_java_sdk_retry(
    credentials: PublicKeyCredentials,
) -> None:
    sent = r'{"code":"10000","msg":"Success","qr_code":"https:\/\/qr.alipay.com\/bax1"}'
    signature = alipay_sign(sent.replace("\\/", "/"))
    body = f'{{"alipay_trade_precreate_response":{sent},"sign":"{signature}"}}'
    verified = verify_response(body.encode(), CT, "alipay.trade.precreate", credentials)
    assert verified.fields["qr_code"] == "https://qr.alipay.com/bax1"


def test_braces_and_quotes_inside_strings_do_not_confuse_the_scanner(
    credentials: PublicKeyCredentials,
) -> None:
    node = '{"code":"10000","msg":"a } b { c \\" d \\\\","nested":{"x":[1,{"y":"}"}]}}'
    body = signed_body(METHOD, node)
    assert extract_node(body, METHOD).text == node
    assert verify_response(body.encode(), CT, METHOD, credentials).fields["nested"]["x"][1]["y"] == "}"


def test_sign_before_node_and_cert_sn_are_found(credentials: PublicKeyCredentials) -> None:
    node = '{"code":"10000","msg":"Success"}'
    body = f'{{"sign":"{alipay_sign(node)}","alipay_cert_sn":"abc","alipay_trade_query_response":{node}}}'
    raw = extract_node(body, METHOD)
    assert raw.cert_sn == "abc"
    assert verify_response(body.encode(), CT, METHOD, credentials).signed


def test_tampered_node_is_refused(credentials: PublicKeyCredentials) -> None:
    node = '{"code":"10000","msg":"Success","total_amount":"0.01"}'
    body = signed_body(METHOD, node).replace('"0.01"', '"9.99"')
    with pytest.raises(ResponseSignatureError):
        verify_response(body.encode(), CT, METHOD, credentials)


def test_signature_by_another_key_is_refused(credentials: PublicKeyCredentials) -> None:
    import base64

    from alipay_testkit import _load_rsa_private
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    node = '{"code":"10000","msg":"Success"}'
    wrong = _load_rsa_private("app_private_pkcs8.pem").sign(
        node.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    body = f'{{"alipay_trade_query_response":{node},"sign":"{base64.b64encode(wrong).decode()}"}}'
    with pytest.raises(ResponseSignatureError):
        verify_response(body.encode(), CT, METHOD, credentials)


def test_gateway_error_without_sign_is_returned_unsigned(credentials: PublicKeyCredentials) -> None:
    body = '{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}'
    verified = verify_response(body.encode(), CT, METHOD, credentials)
    assert not verified.signed and verified.is_error_node
    assert verified.fields["sub_code"] == "isv.invalid-app-id"


def test_values_outside_the_node_cannot_be_injected(credentials: PublicKeyCredentials) -> None:
    node = '{"code":"10000","msg":"Success","trade_status":"WAIT_BUYER_PAY"}'
    body = (
        signed_body(METHOD, node)[:-1]
        + ',"trade_status":"TRADE_SUCCESS","x":{"trade_status":"TRADE_SUCCESS"}}'
    )
    assert json.loads(body)["trade_status"] == "TRADE_SUCCESS"  # what a whole-body parse would see
    verified = verify_response(body.encode(), CT, METHOD, credentials)
    assert verified.fields["trade_status"] == "WAIT_BUYER_PAY"


def test_duplicate_node_after_the_signature_is_refused(credentials: PublicKeyCredentials) -> None:
    node = '{"code":"10000","msg":"Success","trade_status":"WAIT_BUYER_PAY"}'
    body = (
        signed_body(METHOD, node)[:-1]
        + ',"alipay_trade_query_response":{"code":"10000","trade_status":"TRADE_SUCCESS"}}'
    )
    assert json.loads(body)["alipay_trade_query_response"]["trade_status"] == "TRADE_SUCCESS"
    with pytest.raises(MalformedResponseError, match="repeats"):
        verify_response(body.encode(), CT, METHOD, credentials)


def test_duplicate_sign_and_duplicate_keys_inside_the_node_are_refused(
    credentials: PublicKeyCredentials,
) -> None:
    node = '{"code":"10000","msg":"Success"}'
    body = signed_body(METHOD, node)[:-1] + ',"sign":"AAAA"}'
    with pytest.raises(MalformedResponseError, match="repeats"):
        verify_response(body.encode(), CT, METHOD, credentials)
    dup = '{"code":"40004","code":"10000","msg":"Success"}'
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        verify_response(signed_body(METHOD, dup).encode(), CT, METHOD, credentials)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "[]",
        "not json",
        '{"other_response":{"code":"10000"}}',
        '{"alipay_trade_query_response":"x"}',
        '{"alipay_trade_query_response":{"code":"10000"',
        '{"alipay_trade_query_response":{"code":"10000"}} trailing',
        '{"alipay_trade_query_response":{},"error_response":{}}',
    ],
)
def test_malformed_bodies_are_refused(body: str, credentials: PublicKeyCredentials) -> None:
    with pytest.raises(MalformedResponseError):
        verify_response(body.encode(), CT, METHOD, credentials)


def test_charset_from_messy_content_types() -> None:
    assert charset_from_content_type("application/x-www-form-urlencoded; text/html; charset=UTF-8") == "utf-8"
    assert charset_from_content_type('text/html; charset="gbk"') == "gbk"
    assert charset_from_content_type(None) == "utf-8"
