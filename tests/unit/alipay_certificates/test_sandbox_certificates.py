"""The sandbox's certificate authority: which calls it refuses for their certificate parameters, and the
``alipay.open.app.alipaycert.download`` answer, as a client of Alipay meets them."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from channels.alipay.rail.certificates import cert_sn, load_alipay_certificate, load_root_certificates
from channels.alipay.sandbox.certificates import SandboxCertificateAuthority

from .certkit import APP_ID, app_private_key, now

TRANSFER = "alipay.fund.trans.uni.transfer"
QUERY = "alipay.trade.query"
KEY_MODE_APP = "2021000000000999"


@pytest.fixture
def params(shared_ca: SandboxCertificateAuthority) -> dict[str, str]:
    issued = shared_ca.app_certificate(APP_ID)
    assert issued is not None
    return {"app_cert_sn": issued.sn, "alipay_root_cert_sn": shared_ca.root_cert_sn}


def test_a_certificate_mode_app_with_both_right_serials_passes(shared_ca: SandboxCertificateAuthority, params: dict[str, str]) -> None:
    assert shared_ca.check_request(APP_ID, TRANSFER, params) is None
    assert shared_ca.check_request(APP_ID, QUERY, params) is None


@pytest.mark.parametrize(
    ("change", "sub_code"),
    [
        ({"app_cert_sn": ""}, "isv.missing-app-cert-sn"),
        ({"app_cert_sn": "0" * 32}, "isv.app-cert-not-exist"),
        ({"alipay_root_cert_sn": ""}, "isv.invalid-alipay-root-cert-sn"),
        ({"alipay_root_cert_sn": "0" * 32}, "isv.invalid-alipay-root-cert-sn"),
    ],
)
def test_a_certificate_mode_app_with_a_wrong_serial_is_refused_as_alipay_refuses_it(
    shared_ca: SandboxCertificateAuthority, params: dict[str, str], change: dict[str, str], sub_code: str
) -> None:
    refusal = shared_ca.check_request(APP_ID, QUERY, {**params, **change})

    assert refusal is not None
    assert refusal.node()["code"] == "40002" and refusal.node()["sub_code"] == sub_code


def test_a_root_serial_that_kept_the_ecdsa_root_is_refused(shared_ca: SandboxCertificateAuthority, params: dict[str, str]) -> None:
    roots = load_root_certificates(shared_ca.root_pem)
    unfiltered = "_".join(cert_sn(c) for c in roots.anchors)
    refusal = shared_ca.check_request(APP_ID, TRANSFER, {**params, "alipay_root_cert_sn": unfiltered})

    assert refusal is not None and refusal.sub_code == "isv.invalid-alipay-root-cert-sn"


def test_a_key_mode_app_may_trade_but_not_transfer(shared_ca: SandboxCertificateAuthority) -> None:
    assert shared_ca.check_request(KEY_MODE_APP, QUERY, {}) is None
    refusal = shared_ca.check_request(KEY_MODE_APP, TRANSFER, {})
    assert refusal is not None
    assert refusal.node() == {
        "code": "40002",
        "msg": "Invalid Arguments",
        "sub_code": "isv.missing-app-cert-sn",
        "sub_msg": "缺少应用公钥证书序列号",
    }


def test_a_key_mode_app_sending_a_certificate_serial_has_no_certificate(shared_ca: SandboxCertificateAuthority, params: dict[str, str]) -> None:
    refusal = shared_ca.check_request(KEY_MODE_APP, QUERY, params)

    assert refusal is not None and refusal.sub_code == "isv.app-cert-not-exist"


def test_the_app_certificate_certifies_the_apps_own_key(shared_ca: SandboxCertificateAuthority) -> None:
    key = shared_ca.app_public_key(APP_ID)

    assert key is not None and key.public_numbers() == app_private_key().public_key().public_numbers()
    assert shared_ca.app_public_key(KEY_MODE_APP) is None


def test_an_app_key_below_2048_bits_is_not_certified(shared_ca: SandboxCertificateAuthority) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()

    with pytest.raises(ValueError, match="at least 2048 bits"):
        shared_ca.issue_app_certificate("2021000000000002", small)
    assert shared_ca.app_certificate("2021000000000002") is None


def test_download_answers_the_certificate_file_base64_for_a_known_serial_only(shared_ca: SandboxCertificateAuthority) -> None:
    current = shared_ca.alipay_certificate
    node = shared_ca.download({"alipay_cert_sn": current.sn})

    assert node["code"] == "10000" and base64.b64decode(node["alipay_cert_content"]) == current.pem
    assert len(load_alipay_certificate(current.pem).intermediates) == 1  # the file carries Class 2 R1
    for unknown in ("0" * 32, "not a serial", None, 7):
        assert shared_ca.download({"alipay_cert_sn": unknown})["code"] == "40004"
    assert shared_ca.download({})["sub_code"] == "ALIPAY_CERT_NOT_EXIST"


def test_rotation_changes_the_signing_certificate_and_keeps_old_ones_downloadable() -> None:
    ca = SandboxCertificateAuthority()
    old = ca.alipay_certificate
    new = ca.rotate_alipay_certificate()

    assert ca.alipay_certificate.sn == new.sn != old.sn
    assert ca.download({"alipay_cert_sn": old.sn})["code"] == "10000"
    assert "PRIVATE" not in repr(new) and new.sn in repr(new)
    load_root_certificates(ca.root_pem).verify(load_alipay_certificate(new.pem), now=now())


def test_reissuing_an_app_certificate_retires_the_old_serial() -> None:
    ca = SandboxCertificateAuthority()
    first = ca.issue_app_certificate(APP_ID, app_private_key().public_key())
    second = ca.issue_app_certificate(APP_ID, app_private_key().public_key())
    params = {"alipay_root_cert_sn": ca.root_cert_sn}

    assert first.sn != second.sn
    assert ca.check_request(APP_ID, QUERY, {**params, "app_cert_sn": second.sn}) is None
    refusal = ca.check_request(APP_ID, QUERY, {**params, "app_cert_sn": first.sn})
    assert refusal is not None and refusal.sub_code == "isv.app-cert-not-exist"
