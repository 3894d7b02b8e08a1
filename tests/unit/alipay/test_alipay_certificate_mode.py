"""Certificate mode in the rail: what requests carry, which key verifies, when a certificate is downloaded and when
the download is refused, transfers refused in key mode, and the `[channels.alipay]` certificate settings."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from alipay_testkit import APP_ID, FIXTURES, FakeAlipay, alipay_sign
from cert_testkit import certificate_files

from channels.alipay.rail import AlipayClient, AlipayConfigError, CertificateCredentials, Outcome
from channels.alipay.toolkit import AlipaySettings

TRANSFER = "alipay.fund.trans.uni.transfer"
QUERY = "alipay.trade.query"
DOWNLOAD = "alipay.open.app.alipaycert.download"


def body_with_sn(method: str, node: dict[str, object], sn: str, *, sign_with: str | None = None) -> httpx.Response:
    text = json.dumps(node, separators=(",", ":"), ensure_ascii=False)
    sign = sign_with if sign_with is not None else alipay_sign(text)
    body = f'{{"{method.replace(".", "_")}_response":{text},"sign":"{sign}","alipay_cert_sn":"{sn}"}}'
    return httpx.Response(200, content=body.encode(), headers={"Content-Type": "text/html;charset=utf-8"})


def test_certificate_mode_requests_carry_and_sign_both_serial_numbers(
    cert_client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    credentials = cert_client._credentials
    assert isinstance(credentials, CertificateCredentials)
    fake_alipay.reply(QUERY, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"})
    assert cert_client.query(out_trade_no="T1").outcome.sub_code == "ACQ.TRADE_NOT_EXIST"
    seen = fake_alipay.seen[0]
    assert seen.signature_ok  # the serials are part of what was signed
    assert seen.query["app_cert_sn"] == credentials.mode.app.sn
    assert seen.query["alipay_root_cert_sn"] == credentials.mode.roots.sn
    assert cert_client.certificate_mode


def test_a_key_mode_client_refuses_to_transfer_before_anything_is_sent(
    client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    with pytest.raises(AlipayConfigError, match="needs certificate mode.*isv.missing-app-cert-sn.*app_cert_file"):
        client.transfer(out_biz_no="P1", trans_amount_fen=100, payee_identity="2088000000000001")
    assert fake_alipay.seen == [] and not client.certificate_mode


def test_the_held_certificate_verifies_an_answer_that_names_it(cert_client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    sn = cert_client._credentials.mode.alipay.current.sn  # type: ignore[attr-defined]
    fake_alipay.answers.append(body_with_sn(QUERY, {"code": "40004", "msg": "x", "sub_code": "ACQ.TRADE_NOT_EXIST"}, sn))
    assert cert_client.query(out_trade_no="T1").outcome.failed
    assert [s.method for s in fake_alipay.seen] == [QUERY]


def test_an_unknown_serial_downloads_once_and_an_untrusted_download_changes_nothing(
    cert_client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    keyring = cert_client._credentials.mode.alipay  # type: ignore[attr-defined]
    before = keyring.current.sn
    unknown = "0123456789abcdef0123456789abcdef"
    fake_alipay.answers.append(body_with_sn(QUERY, {"code": "10000", "msg": "Success"}, unknown))
    # The "new certificate" is the app's own certificate: issued under the same root, but not the one asked for.
    app_cert = certificate_files()[0]
    fake_alipay.answers.append(body_with_sn(
        DOWNLOAD, {"code": "10000", "msg": "Success", "alipay_cert_content": base64.b64encode(app_cert).decode()},
        before,
    ))
    result = cert_client.query(out_trade_no="T1")
    assert result.outcome.outcome is Outcome.UNKNOWN and result.outcome.reason == "alipay_certificate_untrusted"
    assert [s.method for s in fake_alipay.seen] == [QUERY, DOWNLOAD]
    assert fake_alipay.seen[1].biz == {"alipay_cert_sn": unknown} and fake_alipay.seen[1].signature_ok
    assert keyring.current.sn == before and keyring.get(unknown) is None


def test_a_refused_download_leaves_the_answer_unknown(cert_client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    unknown = "fedcba9876543210fedcba9876543210"
    fake_alipay.answers.append(body_with_sn(TRANSFER, {"code": "10000", "msg": "Success", "status": "SUCCESS"}, unknown))
    fake_alipay.reply(DOWNLOAD, {"code": "40004", "msg": "Business Failed", "sub_code": "ALIPAY_CERT_NOT_EXIST"})
    result = cert_client.transfer(out_biz_no="P1", trans_amount_fen=100, payee_identity="2088000000000001")
    assert result.outcome.outcome is Outcome.UNKNOWN  # a transfer "succeeded" by an unknown signer is not believed


@pytest.mark.parametrize(
    ("status", "outcome", "reason"),
    [("SUCCESS", Outcome.SUCCESS, "alipay_answer"), ("FAIL", Outcome.FAILURE, "transfer_failed"),
     ("DEALING", Outcome.UNKNOWN, "transfer_processing")],
)
def test_transfer_query_status_decides(
    cert_client: AlipayClient, fake_alipay: FakeAlipay, status: str, outcome: Outcome, reason: str
) -> None:
    fake_alipay.reply("alipay.fund.trans.common.query", {"code": "10000", "msg": "Success", "out_biz_no": "P1",
                                                         "status": status, "trans_amount": "0.37"})
    result = cert_client.transfer_query(out_biz_no="P1")
    assert (result.outcome.outcome, result.outcome.reason, result.trans_amount_fen) == (outcome, reason, 37)
    assert fake_alipay.seen[0].biz == {"product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER",
                                       "out_biz_no": "P1"}


# ---------------------------------------------------------------- settings


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    app, alipay, root = certificate_files()
    paths = {"app_cert_file": tmp_path / "app.crt", "alipay_cert_file": tmp_path / "alipay.crt",
             "alipay_root_cert_file": tmp_path / "root.crt"}
    for path, data in zip(paths.values(), (app, alipay, root), strict=True):
        path.write_bytes(data)
    return {k: str(v) for k, v in paths.items()}


def table(**extra: str) -> dict[str, str]:
    return {"gateway_url": "https://alipay.test/gateway.do", "app_id": APP_ID,
            "app_private_key_file": str(FIXTURES / "app_private_pkcs8.pem"), **extra}


def test_the_three_certificate_files_switch_the_app_to_certificate_mode(files: dict[str, str]) -> None:
    settings = AlipaySettings.from_table(table(**files))
    assert settings.certificate_mode and isinstance(settings.credentials, CertificateCredentials)
    settings.require_transfers()  # no exception


@pytest.mark.parametrize("left_out", ["app_cert_file", "alipay_cert_file", "alipay_root_cert_file"])
def test_certificate_files_are_all_three_or_none_and_the_missing_one_is_named(files: dict[str, str], left_out: str) -> None:
    given = {k: v for k, v in files.items() if k != left_out}
    with pytest.raises(AlipayConfigError, match=f"needs all three certificate files;.* {left_out} missing"):
        AlipaySettings.from_table(table(**given))


def test_certificate_files_together_with_alipay_public_key_are_refused(files: dict[str, str]) -> None:
    with pytest.raises(AlipayConfigError, match="alipay_public_key_file cannot be used with the certificate files"):
        AlipaySettings.from_table(table(**files, alipay_public_key_file=str(FIXTURES / "alipay_public.b64.txt")))


def test_an_app_certificate_for_another_key_is_refused_naming_the_file(files: dict[str, str]) -> None:
    other = str(FIXTURES.parent / "alipay_certificates" / "test_only_app_cert.crt")
    with pytest.raises(AlipayConfigError, match=f"app_cert_file {other}: the app certificate is for another key"):
        AlipaySettings.from_table(table(**{**files, "app_cert_file": other}))


def test_a_missing_certificate_file_is_named(files: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(AlipayConfigError, match="certificate file .*nowhere.crt cannot be read"):
        AlipaySettings.from_table(table(**{**files, "alipay_root_cert_file": str(tmp_path / "nowhere.crt")}))


def test_key_mode_settings_refuse_what_needs_transfers() -> None:
    settings = AlipaySettings.from_table(table(alipay_public_key_file=str(FIXTURES / "alipay_public.b64.txt")))
    assert not settings.certificate_mode
    with pytest.raises(AlipayConfigError, match=r"\[channels.alipay\] alipay.fund.trans.uni.transfer needs certificate mode"):
        settings.require_transfers()
