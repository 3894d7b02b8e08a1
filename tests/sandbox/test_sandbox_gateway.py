"""Gateway-level behaviour: transport styles, common parameters, signatures, response bytes."""

from __future__ import annotations

import json

import pytest

QUERY = "alipay.trade.query"


def test_precreate_answers_signed_over_exact_node_bytes(client, out_trade_no):
    answer = client.call("alipay.trade.precreate",
                         {"out_trade_no": out_trade_no, "total_amount": "88.80", "subject": "测试商品/月卡"})
    assert answer["code"] == "10000" and answer["msg"] == "Success"
    assert answer["out_trade_no"] == out_trade_no
    # Alipay escapes "/" as "\/" in the transmitted text; the signature covers those bytes
    assert b"http:\\/\\/" in answer.raw_node
    assert answer["qr_code"].startswith(client.base_url + "/sandbox/checkout/")
    assert answer.body.startswith(b'{"alipay_trade_precreate_response":{')


def test_chinese_sub_msg_is_raw_utf8_and_signed(client):
    answer = client.call(QUERY, {"out_trade_no": "nope"})
    assert answer.response.headers["content-type"] == "text/html;charset=utf-8"
    assert answer["code"] == "40004" and answer["msg"] == "Business Failed"
    assert answer["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    assert "交易不存在".encode() in answer.raw_node  # not \uXXXX escaped


@pytest.mark.parametrize("style", ["split", "form", "get"])
def test_all_transport_styles_are_accepted(client, out_trade_no, style):
    params = client.sign(client.params("alipay.trade.precreate",
                                       {"out_trade_no": out_trade_no, "total_amount": "1.00", "subject": "x"}))
    answer = client.answer(client.send(params, style=style), "alipay.trade.precreate")
    assert answer["code"] == "10000"


def test_bad_signature_is_refused_signed(client):
    """A known app's refusal is signed, as Alipay's are (alipay-protocol.md §3): the SDKs verify it."""
    params = client.sign(client.params(QUERY, {"out_trade_no": "x"}))
    params["biz_content"] = '{"out_trade_no":"y"}'  # tampered after signing
    answer = client.answer(client.send(params), QUERY)
    assert answer["code"] == "40002" and answer["msg"] == "Invalid Arguments"
    assert answer["sub_code"] == "isv.invalid-signature"
    # quotes the gateway's string to sign, its "&" HTML-escaped as Alipay's is
    assert '&amp;biz_content={"out_trade_no":"y"}&amp;charset=utf-8&amp;' in answer["sub_msg"]


def test_signature_from_another_key_is_refused(client, other_key):
    client.key = other_key
    answer = client.call(QUERY, {"out_trade_no": "x"})  # signed by the sandbox, verified
    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-signature")


def test_sign_type_is_part_of_the_signed_string(client):
    params = client.params(QUERY, {"out_trade_no": "x"})
    unsigned = {k: v for k, v in params.items() if k != "sign_type"}
    signed = client.sign(unsigned)
    signed["sign_type"] = "RSA2"
    answer = client.answer(client.send(signed), QUERY, verify=False)
    assert answer["sub_code"] == "isv.invalid-signature"


def test_empty_values_are_not_signed(client, out_trade_no):
    params = client.params(QUERY, {"out_trade_no": out_trade_no}, app_auth_token="", notify_url="")
    answer = client.answer(client.send(client.sign(params)), QUERY)
    assert answer["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # past the signature check


def test_unknown_app_id(client):
    """An app_id the gateway does not know cannot be signed for: the one unsigned answer."""
    answer = client.call(QUERY, {"out_trade_no": "x"}, verify=False, app_id="2021999999999999")
    assert (answer["code"], answer["sub_code"], answer.sign) == ("40002", "isv.invalid-app-id", None)


@pytest.mark.parametrize(
    ("missing", "code", "sub_code"),
    [
        ("app_id", "40001", "isv.missing-app-id"),
        ("sign", "40001", "isv.missing-signature"),
        ("sign_type", "40001", "isv.missing-signature-type"),
        ("timestamp", "40001", "isv.missing-timestamp"),
        ("version", "40001", "isv.missing-version"),
    ],
)
def test_missing_common_parameters(client, missing, code, sub_code):
    params = client.params(QUERY, {"out_trade_no": "x"})
    params = client.sign({k: v for k, v in params.items() if k != missing})
    params.pop(missing, None)
    known_app = missing != "app_id"
    answer = client.answer(client.send(params), QUERY, verify=known_app)  # signed (and checked) when known
    assert (answer["code"], answer["sub_code"], answer.sign is not None) == (code, sub_code, known_app)


def test_missing_method_answers_error_response(client):
    params = client.params(QUERY, {"out_trade_no": "x"})
    del params["method"]
    answer = client.answer(client.send(client.sign(params)), QUERY)
    assert answer.key == "error_response"
    assert (answer["code"], answer["sub_code"]) == ("40001", "isv.missing-method")


def test_unknown_method(client):
    answer = client.call("alipay.trade.teleport", {})
    assert answer.key == "error_response"
    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-method")


@pytest.mark.parametrize(
    ("override", "sub_code"),
    [
        ({"timestamp": "2024/01/01 10:00"}, "isv.invalid-timestamp"),
        ({"sign_type": "MD5"}, "isv.invalid-signature-type"),
        ({"charset": "latin-1"}, "isv.invalid-charset"),
        ({"format": "XML"}, "isv.invalid-format"),
    ],
)
def test_invalid_common_parameters(client, override, sub_code):
    answer = client.call(QUERY, {"out_trade_no": "x"}, **override)  # signed: the app is known
    assert (answer["code"], answer["sub_code"]) == ("40002", sub_code)


def test_biz_content_must_be_json(client):
    params = client.params(QUERY)
    params["biz_content"] = "{not json"
    answer = client.answer(client.send(client.sign(params)), QUERY)
    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-parameter")


def test_bare_base64_registered_key_works(other_client, out_trade_no):
    answer = other_client.call(QUERY, {"out_trade_no": out_trade_no})
    assert answer["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_gbk_request_gets_a_gbk_answer(client, out_trade_no):
    answer = client.call("alipay.trade.precreate",
                         {"out_trade_no": out_trade_no, "total_amount": "1.00", "subject": "中文标题"},
                         charset="GBK")
    assert answer.response.headers["content-type"] == "text/html;charset=GBK"
    assert answer["code"] == "10000"
    trade = client.call(QUERY, {"out_trade_no": out_trade_no}, verify=False)
    assert trade["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # precreated, not yet scanned


def test_register_app_at_run_time(admin, app_key, make_client):
    pem = app_key.publickey().export_key().decode()
    assert admin.post("/sandbox/apps", json={"app_id": "2021000000000099", "public_key": pem}).status_code == 201
    assert admin.post("/sandbox/apps", json={"app_id": "x", "public_key": "garbage"}).status_code == 400
    listed = {a["app_id"] for a in admin.get("/sandbox/apps").json()["apps"]}
    assert "2021000000000099" in listed
    c = make_client("2021000000000099", app_key)
    assert c.call(QUERY, {"out_trade_no": "x"})["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_public_key_formats(admin):
    pem = admin.get("/sandbox/public-key").text
    bare = admin.get("/sandbox/public-key", params={"format": "bare"}).text
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert bare.startswith("MIIBIj") and "\n" not in bare


def test_response_json_keys(client, out_trade_no):
    answer = client.call("alipay.trade.precreate",
                         {"out_trade_no": out_trade_no, "total_amount": "1.00", "subject": "x"})
    assert list(json.loads(answer.body)) == ["alipay_trade_precreate_response", "sign"]
