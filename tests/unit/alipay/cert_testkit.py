"""A certificate-mode set-up for the rail's unit tests, made at test time: a TEST-ONLY root, an app
certificate for the TEST-ONLY app key and an "Alipay" certificate for the fake Alipay's TEST-ONLY key, so the
fake's answers verify unchanged in certificate mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from alipay_testkit import APP_ID, FIXTURES
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from channels.alipay.rail import CertificateCredentials, PrivateKey, load_certificate_mode


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TEST ONLY"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _key(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((FIXTURES / name).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _cert(subject: str, public: rsa.RSAPublicKey, issuer: str, issuer_key: rsa.RSAPrivateKey, serial: int,
          *, ca: bool) -> x509.Certificate:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer)).public_key(public)
        .serial_number(serial).not_valid_before(start).not_valid_after(start + timedelta(days=365 * 30))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


@cache
def certificate_files() -> tuple[bytes, bytes, bytes]:
    """(app certificate, Alipay certificate, root file) as PEM; one RSA root key per test session."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _cert("TEST ONLY Root", root_key.public_key(), "TEST ONLY Root", root_key, 1, ca=True)
    app = _cert(APP_ID, _key("app_private_pkcs8.pem").public_key(), "TEST ONLY Root", root_key, 2, ca=False)
    alipay = _cert("TEST ONLY Alipay", _key("alipay_private_pkcs1.pem").public_key(), "TEST ONLY Root", root_key, 3,
                   ca=False)
    pem = serialization.Encoding.PEM
    return app.public_bytes(pem), alipay.public_bytes(pem), root.public_bytes(pem)


def certificate_credentials(app_private_key: PrivateKey) -> CertificateCredentials:
    app, alipay, root = certificate_files()
    mode = load_certificate_mode(app_cert=app, alipay_cert=alipay, alipay_root_cert=root,
                                 app_private_key=app_private_key.rsa, now=datetime.now(UTC))
    return CertificateCredentials(APP_ID, app_private_key, mode)
