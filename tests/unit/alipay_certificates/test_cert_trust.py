"""Trusting an Alipay certificate: the chain to a root of the root file, signatures, validity; rotation.

A hierarchy shaped like Alipay's real one (made at test time: root R1 among SM2 and ECDSA roots, intermediate
Class 2 R1, a certificate valid 2025-2030) and the sandbox's hierarchy, which the rail must accept, and certificates it must refuse: issued by another CA under the
same names, expired, not yet valid, missing its intermediate, downloaded for another serial.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from channels.alipay.rail import certificates
from channels.alipay.rail.certificates import (
    AlipayCertificates,
    CertificateError,
    load_alipay_certificate,
    load_certificate_mode,
    load_root_certificates,
)
from channels.alipay.sandbox.certificates import SandboxCertificateAuthority

from .certkit import APP_ID, AlipayLikeFiles, alipay_like_files, app_private_key, cert_file, now, utc

# ---------------------------------------------------------------- files shaped like Alipay's, made at test time


@pytest.fixture(scope="module")
def alipay_like() -> AlipayLikeFiles:
    return alipay_like_files()


def test_an_alipay_certificate_is_trusted_under_a_root_file_like_alipays(alipay_like: AlipayLikeFiles) -> None:
    # Non-critical CA flags (as in Alipay's real roots) and two roots the rail cannot use (SM2, E1).
    roots = load_root_certificates(alipay_like.root_file)
    alipay = load_alipay_certificate(alipay_like.alipay_chain)

    roots.verify(alipay, now=utc(2026, 1, 1))  # no exception: trusted


@pytest.mark.parametrize(
    ("when", "message"),
    [(utc(2030, 3, 12), "expired on 2030-03-11"), (utc(2025, 3, 1), "valid only from 2025-03-12")],
)
def test_an_alipay_certificate_is_refused_outside_its_validity(
    alipay_like: AlipayLikeFiles, when: datetime, message: str
) -> None:
    roots = load_root_certificates(alipay_like.root_file)
    alipay = load_alipay_certificate(alipay_like.alipay_chain, source="alipay_cert_file")

    with pytest.raises(CertificateError, match=message) as raised:
        roots.verify(alipay, now=when)
    assert str(raised.value).startswith("alipay_cert_file")


def test_a_certificate_file_without_its_intermediate_is_not_trusted(alipay_like: AlipayLikeFiles) -> None:
    # The certificate alone: its issuer (Class 2 R1) is not a root, so no path exists.
    roots = load_root_certificates(alipay_like.root_file)
    alipay = load_alipay_certificate(alipay_like.alipay_alone)

    with pytest.raises(CertificateError, match="is not trusted"):
        roots.verify(alipay, now=utc(2026, 1, 1))


# ---------------------------------------------------------------- the sandbox's hierarchy


def test_sandbox_issued_alipay_certificate_is_trusted_and_its_key_verifies_sandbox_signatures(
    shared_ca: SandboxCertificateAuthority,
) -> None:
    issued = shared_ca.app_certificate(APP_ID)
    assert issued is not None
    mode = load_certificate_mode(
        app_cert=issued.pem,
        alipay_cert=shared_ca.alipay_certificate.pem,
        alipay_root_cert=shared_ca.root_pem,
        app_private_key=app_private_key(),
        now=now(),
    )
    node = b'{"code":"10000","msg":"Success"}'
    signature = shared_ca.alipay_certificate.private_key.sign(node, padding.PKCS1v15(), hashes.SHA256())

    mode.alipay.current.public_key.verify(signature, node, padding.PKCS1v15(), hashes.SHA256())
    assert mode.request_params == {
        "app_cert_sn": issued.sn,
        "alipay_root_cert_sn": shared_ca.root_cert_sn,
    }


def test_a_certificate_from_another_ca_under_the_same_names_is_not_trusted(
    shared_ca: SandboxCertificateAuthority,
) -> None:
    impostor = SandboxCertificateAuthority()  # same names, other keys
    roots = load_root_certificates(shared_ca.root_pem)

    with pytest.raises(CertificateError, match="is not trusted"):
        roots.verify(load_alipay_certificate(impostor.alipay_certificate.pem), now=now())


def test_a_merchant_cannot_make_an_alipay_certificate_with_its_own_app_certificate(
    shared_ca: SandboxCertificateAuthority,
) -> None:
    # Every merchant holds an app certificate from the same CA and its key: signing a "certificate" with
    # that key must not give a chain Alipay's roots accept (the app certificate is no CA).
    issued = shared_ca.app_certificate(APP_ID)
    assert issued is not None
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Alipay")]))
        .issuer_name(issued.certificate.subject)
        .public_key(forged_key.public_key())
        .serial_number(1)
        .not_valid_before(now() - timedelta(hours=1))
        .not_valid_after(now() + timedelta(days=1))
        .sign(app_private_key(), hashes.SHA256())
    )
    chain = forged.public_bytes(serialization.Encoding.PEM) + issued.pem

    with pytest.raises(CertificateError, match="is not trusted"):
        load_root_certificates(shared_ca.root_pem).verify(load_alipay_certificate(chain), now=now())


def test_expired_and_not_yet_valid_sandbox_certificates_are_refused() -> None:
    ca = SandboxCertificateAuthority()
    roots = load_root_certificates(ca.root_pem)
    expired = ca.rotate_alipay_certificate(not_before=now() - timedelta(days=10), not_after=now() - timedelta(days=1))
    future = ca.rotate_alipay_certificate(not_before=now() + timedelta(days=1))

    with pytest.raises(CertificateError, match="expired on"):
        roots.verify(load_alipay_certificate(expired.pem), now=now())
    with pytest.raises(CertificateError, match="valid only from"):
        roots.verify(load_alipay_certificate(future.pem), now=now())


def test_configuration_with_an_untrusted_alipay_certificate_is_refused_at_start(
    shared_ca: SandboxCertificateAuthority,
) -> None:
    issued = shared_ca.app_certificate(APP_ID)
    assert issued is not None
    with pytest.raises(CertificateError, match="alipay_cert_file: the Alipay certificate .* is not trusted"):
        load_certificate_mode(
            app_cert=issued.pem,
            alipay_cert=SandboxCertificateAuthority().alipay_certificate.pem,  # another CA's
            alipay_root_cert=shared_ca.root_pem,
            now=now(),
        )


def test_an_app_certificate_for_another_key_than_the_app_private_key_is_refused(
    shared_ca: SandboxCertificateAuthority,
) -> None:
    with pytest.raises(CertificateError, match="app_cert_file: the app certificate is for another key"):
        load_certificate_mode(
            app_cert=cert_file("test_only_app_cert.crt"),
            alipay_cert=shared_ca.alipay_certificate.pem,
            alipay_root_cert=shared_ca.root_pem,
            app_private_key=app_private_key(),
            now=now(),
        )


# ---------------------------------------------------------------- rotation


def _keyring(ca: SandboxCertificateAuthority) -> AlipayCertificates:
    roots = load_root_certificates(ca.root_pem)
    return AlipayCertificates.start(load_alipay_certificate(ca.alipay_certificate.pem), roots, now=now())


def test_rotation_downloads_checks_and_uses_the_new_certificate_keeping_the_old() -> None:
    ca = SandboxCertificateAuthority()
    keyring = _keyring(ca)
    old_sn = keyring.current.sn
    new = ca.rotate_alipay_certificate()

    assert keyring.get(new.sn) is None  # a response naming it triggers the download
    node = ca.download({"alipay_cert_sn": new.sn})
    accepted = keyring.accept_download(node["alipay_cert_content"], expected_sn=new.sn, now=now())

    assert accepted.sn == new.sn == keyring.current.sn
    assert keyring.get(old_sn) is not None  # a response signed just before the rotation still verifies
    data = b"signed after rotation"
    keyring.current.public_key.verify(
        new.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256()), data, padding.PKCS1v15(), hashes.SHA256()
    )


def test_a_download_of_another_serial_than_asked_for_is_refused_and_changes_nothing() -> None:
    ca = SandboxCertificateAuthority()
    keyring = _keyring(ca)
    before = keyring.current.sn
    new = ca.rotate_alipay_certificate()
    node = ca.download({"alipay_cert_sn": new.sn})

    with pytest.raises(CertificateError, match="asked for certificate 0{32}, got"):
        keyring.accept_download(node["alipay_cert_content"], expected_sn="0" * 32, now=now())
    assert keyring.current.sn == before and keyring.get(new.sn) is None


def test_a_downloaded_certificate_from_another_ca_is_refused_and_changes_nothing(
    shared_ca: SandboxCertificateAuthority,
) -> None:
    keyring = _keyring(shared_ca)
    before = keyring.current.sn
    impostor = SandboxCertificateAuthority()
    forged = impostor.alipay_certificate

    with pytest.raises(CertificateError, match="is not trusted"):
        keyring.accept_download(base64.b64encode(forged.pem).decode(), expected_sn=forged.sn, now=now())
    assert keyring.current.sn == before and keyring.get(forged.sn) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing or not a string"),
        ("", "missing or not a string"),
        ("not base64!", "not valid Base64"),
        ("QUFB" * 30_000, "too long"),
        (base64.b64encode(b"no certificate here").decode(), "no PEM certificate"),
    ],
)
def test_an_unusable_download_answer_is_refused_by_field(content: object, message: str) -> None:
    keyring = _keyring(SandboxCertificateAuthority())

    with pytest.raises(CertificateError, match=message):
        keyring.accept_download(content, expected_sn="0" * 32, now=now())


def test_the_keyring_keeps_a_bounded_number_of_certificates() -> None:
    ca = SandboxCertificateAuthority()
    keyring = _keyring(ca)
    first = keyring.current.sn
    rotated = []
    for _ in range(certificates.MAX_KEPT_ALIPAY_CERTIFICATES):
        new = ca.rotate_alipay_certificate()
        keyring.accept_download(ca.download({"alipay_cert_sn": new.sn})["alipay_cert_content"], expected_sn=new.sn, now=now())
        rotated.append(new.sn)

    assert keyring.get(first) is None  # the oldest went first
    assert all(keyring.get(sn) is not None for sn in rotated) and keyring.current.sn == rotated[-1]
