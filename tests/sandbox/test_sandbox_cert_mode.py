"""Certificate mode and transfers as a client of Alipay meets them in the sandbox: the serial-number checks, answers
signed with the Alipay certificate's key and naming it, rotation and the certificate download, accounts whose
holder names transfers must give, the transfer query, and the CA kept in the state file."""

from __future__ import annotations

import base64

from Crypto.PublicKey import RSA

from channels.alipay.sandbox import SandboxConfig, start_in_thread

from .conftest import APP_ID, AlipayClient, CertAlipayClient, first_pem, rsa2_ok

TRANSFER = "alipay.fund.trans.uni.transfer"
TRANSFER_QUERY = "alipay.fund.trans.common.query"
DOWNLOAD = "alipay.open.app.alipaycert.download"
QUERY = "alipay.trade.query"


def transfer_biz(out_biz_no: str, identity: str, name: str, amount: str = "0.37") -> dict[str, object]:
    return {
        "out_biz_no": out_biz_no, "trans_amount": amount, "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "payee_info": {"identity": identity, "identity_type": "ALIPAY_LOGON_ID", "name": name},
    }


def test_a_key_mode_transfer_is_refused_as_alipay_refuses_it(client: AlipayClient, admin) -> None:
    answer = client.call(TRANSFER, transfer_biz("K1", "someone@example.com", "张三"))
    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.missing-app-cert-sn")
    assert admin.get("/sandbox/transfers").json()["transfers"] == []
    # Key-mode calls other than transfers go on as before, answers signed with the sandbox key, no serial.
    query = client.call(QUERY, {"out_trade_no": "nothing"})
    assert query["sub_code"] == "ACQ.TRADE_NOT_EXIST" and "alipay_cert_sn" not in query.response.json()


def test_certificate_answers_are_signed_by_the_alipay_certificate_and_name_it(cert_client: CertAlipayClient) -> None:
    answer = cert_client.call(QUERY, {"out_trade_no": "nothing"})  # verified with the certificate's key
    body = answer.response.json()
    assert body["alipay_cert_sn"] == cert_client.http.get("/sandbox/certificates").json()["alipay_cert_sn"]
    assert not rsa2_ok(RSA.import_key(cert_client.http.get("/sandbox/public-key").text), answer.raw_node, body["sign"])


def test_wrong_serial_numbers_are_refused_by_name(cert_client: CertAlipayClient) -> None:
    right_root = cert_client.root_cert_sn
    cases = [
        ({"app_cert_sn": ""}, "isv.missing-app-cert-sn"),
        ({"app_cert_sn": "0" * 32}, "isv.app-cert-not-exist"),
        # A client that let the ECDSA root into the root serial sends three serials: refused.
        ({"alipay_root_cert_sn": f"{'0' * 32}_{right_root}"}, "isv.invalid-alipay-root-cert-sn"),
        ({"alipay_root_cert_sn": ""}, "isv.invalid-alipay-root-cert-sn"),
    ]
    for change, sub_code in cases:
        params = {**cert_client.params(QUERY, {"out_trade_no": "x"}), **change}
        answer = cert_client.answer(cert_client.send(cert_client.sign(params)), QUERY)
        assert (answer["code"], answer["sub_code"]) == ("40002", sub_code), change


def test_rotation_then_download_of_the_new_certificate(cert_client: CertAlipayClient, admin) -> None:
    before = admin.get("/sandbox/certificates").json()
    rotated = admin.post("/sandbox/certificates/rotate").json()
    assert rotated["alipay_cert_sn"] != before["alipay_cert_sn"]

    answer = cert_client.call(DOWNLOAD, {"alipay_cert_sn": rotated["alipay_cert_sn"]})
    assert answer.response.json()["alipay_cert_sn"] == rotated["alipay_cert_sn"]  # signed by the new one
    content = base64.b64decode(answer["alipay_cert_content"]).decode()
    assert first_pem(content) == first_pem(rotated["alipay_cert"])
    old = cert_client.call(DOWNLOAD, {"alipay_cert_sn": before["alipay_cert_sn"]})
    assert first_pem(base64.b64decode(old["alipay_cert_content"]).decode()) == first_pem(before["alipay_cert"])
    unknown = cert_client.call(DOWNLOAD, {"alipay_cert_sn": "0" * 32})
    assert (unknown["code"], unknown["sub_code"]) == ("40004", "ALIPAY_CERT_NOT_EXIST")


def test_transfers_check_the_holder_name_of_known_accounts_and_the_query_answers(
    cert_client: CertAlipayClient, admin
) -> None:
    assert admin.post("/sandbox/accounts", json={"logon_id": "corp@example.com", "name": "示例科技有限公司"}).status_code == 201
    assert admin.post("/sandbox/accounts", json={"logon_id": "corp@example.com"}).status_code == 400

    done = cert_client.call(TRANSFER, transfer_biz("T1", "corp@example.com", "示例科技有限公司"))
    assert done["status"] == "SUCCESS"
    wrong = cert_client.call(TRANSFER, transfer_biz("T2", "corp@example.com", "张三"))
    assert (wrong["code"], wrong["sub_code"]) == ("40004", "PAYEE_USER_INFO_ERROR")
    again = cert_client.call(TRANSFER, transfer_biz("T2", "corp@example.com", "示例科技有限公司"))
    assert again["sub_code"] == "PAYEE_USER_INFO_ERROR"  # the first answer for that out_biz_no, not a payment

    found = cert_client.call(TRANSFER_QUERY, {"out_biz_no": "T1"})
    assert (found["status"], found["trans_amount"], found["order_id"]) == ("SUCCESS", "0.37", done["order_id"])
    failed = cert_client.call(TRANSFER_QUERY, {"out_biz_no": "T2"})
    assert (failed["status"], failed["error_code"]) == ("FAIL", "PAYEE_USER_INFO_ERROR")
    missing = cert_client.call(TRANSFER_QUERY, {"out_biz_no": "T3"})
    assert (missing["code"], missing["sub_code"]) == ("40004", "ORDER_NOT_EXIST")
    recorded = admin.get("/sandbox/transfers").json()["transfers"]
    assert sorted((t["out_biz_no"], t["status"]) for t in recorded) == [("T1", "SUCCESS"), ("T2", "FAIL")]


def test_the_state_file_keeps_the_ca_accounts_and_certificate_apps(tmp_path, app_key) -> None:
    state = tmp_path / "state.json"
    public = app_key.publickey().export_key().decode()
    config = SandboxConfig(port=0, state_file=state, apps={APP_ID: public}, certificate_apps=(APP_ID,),
                           accounts={"corp@example.com": "示例科技有限公司"})
    with start_in_thread(config) as first:
        issued = first.sandbox.ca.app_certificate(APP_ID)
        assert issued is not None
        rotated = first.sandbox.rotate_alipay_certificate()
        root_sn = first.sandbox.ca.root_cert_sn
    assert oct(state.stat().st_mode & 0o777) == "0o600"  # it holds the CA's keys

    with start_in_thread(SandboxConfig(port=0, state_file=state)) as second:
        ca = second.sandbox.ca
        assert (ca.root_cert_sn, ca.alipay_certificate.sn) == (root_sn, rotated.sn)
        kept = ca.app_certificate(APP_ID)
        assert kept is not None and kept.sn == issued.sn
        files = {"app_cert": kept.pem.decode(), "app_cert_sn": kept.sn, "alipay_cert": rotated.pem.decode()}
        client = CertAlipayClient(second.url, APP_ID, app_key, files)
        try:
            answer = client.call(TRANSFER, transfer_biz("S1", "corp@example.com", "张三"))
        finally:
            client.close()
        assert answer["sub_code"] == "PAYEE_USER_INFO_ERROR"  # the account came back too
