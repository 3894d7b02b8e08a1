"""Serial numbers of certificate mode, pinned and cross-checked.

Every value here comes from at least two implementations that share no code: the rail's
(``channels.alipay.rail.certificates``), the sandbox's own, python-alipay-sdk's ``DCAliPay`` (pyOpenSSL),
or the JDK's ``X500Principal`` run through Alipay's Java rule (tests/fixtures/alipay_certificates/
AlipayCertSn.java). No certificate of Alipay's own is stored: files shaped like Alipay's (an SM2 root, an ECDSA
root cryptography cannot read, two RSA roots, a certificate followed by its intermediate) are made at test time.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from cryptography import x509

from channels.alipay.rail.certificates import (
    CertificateError,
    cert_sn,
    is_rsa_signed,
    issuer_name,
    load_alipay_certificate,
    load_app_certificate,
    load_root_certificates,
    pem_certificates,
    read_certificate_file,
    root_cert_sn,
)
from channels.alipay.sandbox.cert_serials import sandbox_cert_sn
from channels.alipay.sandbox.certificates import SandboxCertificateAuthority

from .certkit import APP_ID, CERTS, AlipayLikeFiles, alipay_like_files, cert_file, fz_cert_sn, fz_root_cert_sn

# `java AlipayCertSn.java …` (JDK 17) on the fixtures.
JDK_TEST_APP_CERT_SN = "961200f17ad5bfb8a8d71169b0214be8"
JDK_TEST_ROOT_CERT_SN = "5f2c819f105d36b8374f32b637825344_1a7a7a46acaf1d9edba01e9c81c230c9"
JDK_TRICKY_ISSUER = (
    "CN=TEST ONLY Tricky Issuer,2.5.4.5=#13023432,1.2.840.113549.1.9.1=#160f6361406578616d706c652e74657374,"
    "L=\\#hash first+OU=\\ leading and trailing\\ ,"
    'O=TEST ONLY\\, \\"Quoted\\" \\<Co\\>\\; a\\+b\\=c \\#1 \\\\ 测试,C=CN'
)
JDK_TRICKY_CERT_SN = "a87891142e62a41df031b21a98dc64ab"


# ---------------------------------------------------------------- files shaped like Alipay's, made at test time


@pytest.fixture(scope="module")
def alipay_like() -> AlipayLikeFiles:
    return alipay_like_files()


def test_app_and_alipay_certificates_give_the_serials_python_alipay_sdk_and_the_sandbox_compute(
    alipay_like: AlipayLikeFiles,
) -> None:
    app = load_app_certificate(alipay_like.app_cert)
    alipay = load_alipay_certificate(alipay_like.alipay_chain)

    assert issuer_name(app.certificate) == (
        "CN=TEST ONLY Ant Class 1 R1,OU=Certification Authority,O=TEST ONLY Ant,C=CN"
    )
    assert app.sn == fz_cert_sn(alipay_like.app_cert) == sandbox_cert_sn(app.certificate)
    assert alipay.sn == fz_cert_sn(alipay_like.alipay_chain) == sandbox_cert_sn(alipay.certificate)
    # The MD5 input, written out: the issuer, then the serial number in decimal.
    text = "CN=TEST ONLY Ant Class 2 R1,OU=Certification Authority,O=TEST ONLY Ant,C=CN" + str(
        0x20250312000000000000000000000001
    )
    assert alipay.sn == hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def test_a_root_file_like_alipays_gives_the_root_serial_python_alipay_sdk_computes(
    alipay_like: AlipayLikeFiles,
) -> None:
    roots = load_root_certificates(alipay_like.root_file)
    r1, g3 = alipay_like.rsa_roots

    assert roots.sn == f"{sandbox_cert_sn(r1)}_{sandbox_cert_sn(g3)}"
    assert roots.sn == fz_root_cert_sn(alipay_like.root_file)


def test_the_sm2_and_ecdsa_roots_are_left_out_even_the_one_cryptography_cannot_read(
    alipay_like: AlipayLikeFiles,
) -> None:
    ders = pem_certificates(alipay_like.root_file, source="root")
    roots = load_root_certificates(alipay_like.root_file)

    assert [is_rsa_signed(der) for der in ders] == [False, True, False, True]  # SM2, R1, E1 (ECDSA), G3
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(ders[2])  # E1's NULL parameters: cryptography refuses it
    assert (len(roots.anchors), roots.unreadable) == (3, 1)
    assert root_cert_sn(ders) == roots.sn  # DER in, so the unreadable one costs nothing


def test_an_alipay_certificate_file_is_read_by_its_first_certificate(alipay_like: AlipayLikeFiles) -> None:
    alipay = load_alipay_certificate(alipay_like.alipay_chain)

    assert alipay.sn == load_alipay_certificate(alipay_like.alipay_alone).sn
    assert [c.subject.rfc4514_string() for c in alipay.intermediates] == [
        "CN=TEST ONLY Ant Class 2 R1,OU=Certification Authority,O=TEST ONLY Ant,C=CN"
    ]


# ---------------------------------------------------------------- fixed TEST-ONLY vectors


def test_fixed_test_only_app_certificate_with_a_chinese_issuer() -> None:
    app = load_app_certificate(cert_file("test_only_app_cert.crt"))

    assert issuer_name(app.certificate) == "CN=TEST ONLY Root R1,OU=Certification Authority,O=TEST ONLY 测试专用,C=CN"
    assert app.sn == JDK_TEST_APP_CERT_SN
    assert fz_cert_sn(cert_file("test_only_app_cert.crt")) == JDK_TEST_APP_CERT_SN
    assert sandbox_cert_sn(app.certificate) == JDK_TEST_APP_CERT_SN


def test_fixed_test_only_root_file_leaves_its_ecdsa_root_out() -> None:
    roots = load_root_certificates(cert_file("test_only_root_cert.crt"))

    assert roots.sn == JDK_TEST_ROOT_CERT_SN
    assert len(roots.sn.split("_")) == 2 and len(roots.anchors) == 3
    assert fz_root_cert_sn(cert_file("test_only_root_cert.crt")) == JDK_TEST_ROOT_CERT_SN


def test_an_issuer_with_every_escape_is_written_as_javas_x500principal_writes_it() -> None:
    certificate = x509.load_pem_x509_certificate(cert_file("test_only_tricky_issuer_cert.crt"))

    assert issuer_name(certificate) == JDK_TRICKY_ISSUER
    assert cert_sn(certificate) == JDK_TRICKY_CERT_SN
    # The sandbox only issues plain names and says so rather than guess.
    with pytest.raises(ValueError, match="plain names"):
        sandbox_cert_sn(certificate)


# ---------------------------------------------------------------- certificates made at test time


def test_sandbox_issued_certificates_agree_across_rail_sandbox_and_python_alipay_sdk(
    shared_ca: SandboxCertificateAuthority,
) -> None:
    issued = shared_ca.app_certificate(APP_ID)
    assert issued is not None
    alipay_pem = shared_ca.alipay_certificate.pem

    assert load_app_certificate(issued.pem).sn == issued.sn == fz_cert_sn(issued.pem)
    assert load_alipay_certificate(alipay_pem).sn == shared_ca.alipay_certificate.sn == fz_cert_sn(alipay_pem)
    roots = load_root_certificates(shared_ca.root_pem)
    assert roots.sn == shared_ca.root_cert_sn == fz_root_cert_sn(shared_ca.root_pem)


def test_the_sandbox_root_file_leads_with_an_ecdsa_root_that_the_serial_leaves_out(
    shared_ca: SandboxCertificateAuthority,
) -> None:
    ders = pem_certificates(shared_ca.root_pem, source="sandbox root")
    parsed = [x509.load_der_x509_certificate(der) for der in ders]

    assert [is_rsa_signed(der) for der in ders] == [False, True, True]
    assert shared_ca.root_cert_sn == f"{cert_sn(parsed[1])}_{cert_sn(parsed[2])}"
    # A client that forgot the filter would send three serials; that is not the root serial.
    assert "_".join(cert_sn(c) for c in parsed) != shared_ca.root_cert_sn


def test_a_serial_is_32_lower_case_hex_digits(alipay_like: AlipayLikeFiles) -> None:
    # JV pads BigInteger.toString(16) back to 32 digits, as hexdigest always has them.
    sns = [load_app_certificate(cert_file("test_only_app_cert.crt")).sn, load_app_certificate(alipay_like.app_cert).sn]
    assert all(re.fullmatch(r"[0-9a-f]{32}", sn) for sn in sns)


# ---------------------------------------------------------------- bad files are refused by name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"", "no PEM certificate"),
        (b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", "no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", "not valid Base64"),
        (
            b"-----BEGIN CERTIFICATE-----\n" + base64.b64encode(b"0\x03\x02\x01\x00") + b"\n-----END CERTIFICATE-----\n",
            "not a readable X.509 certificate",
        ),
        (b"x" * (64 * 1024 + 1), "more than 65536"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" * 17, "17 certificates, more than 16"),
    ],
)
def test_unusable_app_certificate_text_is_refused_naming_the_setting(text: bytes, message: str) -> None:
    with pytest.raises(CertificateError, match=message) as raised:
        load_app_certificate(text, source="app_cert_file /etc/cashier/app.crt")
    assert str(raised.value).startswith("app_cert_file /etc/cashier/app.crt")


def test_certificate_files_are_read_bounded_and_named_when_missing(tmp_path: Path) -> None:
    big = tmp_path / "big.crt"
    big.write_bytes(b"x" * (64 * 1024 + 1))

    assert read_certificate_file(CERTS / "test_only_app_cert.crt") == cert_file("test_only_app_cert.crt")
    with pytest.raises(CertificateError, match=f"certificate file {tmp_path / 'missing.crt'} cannot be read"):
        read_certificate_file(tmp_path / "missing.crt")
    with pytest.raises(CertificateError, match="is larger than 65536 bytes"):
        read_certificate_file(big)


def test_a_root_file_without_an_rsa_signed_certificate_is_refused() -> None:
    ecdsa_only = pem_certificates(cert_file("test_only_root_cert.crt"), source="root")[0]
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(ecdsa_only) + b"-----END CERTIFICATE-----\n"

    with pytest.raises(CertificateError, match="no RSA-signed certificate"):
        load_root_certificates(pem, source="alipay_root_cert_file")


def test_an_app_certificate_without_an_rsa_key_is_refused() -> None:
    ecdsa_root = cert_file("test_only_root_cert.crt").split(b"\n\n")[0]

    with pytest.raises(CertificateError, match="not an RSA key"):
        load_app_certificate(ecdsa_root, source="app_cert_file")
