"""Helpers for the certificate-mode tests: the fixture folders, the TEST-ONLY app key, time, the FZ SDK, and\nAlipay-shaped certificate files made at test time (no certificate of Alipay's own is stored)."""

from __future__ import annotations

import base64
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CERTS = Path(__file__).resolve().parents[2] / "fixtures" / "alipay_certificates"
KEYS = Path(__file__).resolve().parents[2] / "fixtures" / "alipay"
APP_ID = "2021000000000001"


def cert_file(name: str) -> bytes:
    return (CERTS / name).read_bytes()


def app_private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((KEYS / "app_private_pkcs8.pem").read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


def now() -> datetime:
    return datetime.now(timezone.utc)


def fz_cert_sn(pem: bytes) -> str:
    """python-alipay-sdk's ``DCAliPay.get_cert_sn`` (pyOpenSSL), an implementation independent of ours."""
    from alipay import DCAliPay  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        # pyOpenSSL deprecates X509.get_issuer in favour of cryptography; the SDK still calls it.
        warnings.filterwarnings("ignore", "X509.get_issuer is deprecated", DeprecationWarning)
        return str(DCAliPay.get_cert_sn(pem.decode("ascii")))


def fz_root_cert_sn(pem: bytes) -> str:
    """python-alipay-sdk's ``DCAliPay.get_root_cert_sn`` (splits the file on blank lines, as Alipay's has)."""
    from alipay import DCAliPay

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X509.get_issuer is deprecated", DeprecationWarning)
        return str(DCAliPay.get_root_cert_sn(pem.decode("ascii")))


# ---------------------------------------------------------------- Alipay-shaped hierarchy, made at test time


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def _children(element: bytes) -> list[bytes]:
    """The elements inside one DER SEQUENCE (whole TLVs), a test-side reader independent of the rail's."""
    def header(at: int) -> tuple[int, int]:
        first = element[at + 1]
        if first < 0x80:
            return 2, first
        count = first & 0x7F
        return 2 + count, int.from_bytes(element[at + 2 : at + 2 + count], "big")

    skip, length = header(0)
    out, at, end = [], skip, skip + length
    while at < end:
        size, length = header(at)
        out.append(element[at : at + size + length])
        at += size + length
    return out


#: AlgorithmIdentifier of SM2-with-SM3 (1.2.156.10197.1.501), as the SM2 root of Alipay's root file has.
SM2_WITH_SM3 = _tlv(0x30, bytes.fromhex("06082a811ccf55018375"))
#: ecdsa-with-SHA256 with explicit NULL parameters, as Alipay's ECDSA root E1 writes it (cryptography refuses it).
ECDSA_SHA256_WITH_NULL = _tlv(0x30, bytes.fromhex("06082a8648ce3d0403020500"))


def with_signature_algorithm(certificate: x509.Certificate, algorithm: bytes) -> bytes:
    """The certificate's DER with both signature AlgorithmIdentifiers replaced (signature left as is)."""
    tbs, _, signature = _children(certificate.public_bytes(serialization.Encoding.DER))
    fields = _children(tbs)
    fields[2] = algorithm  # [0] version, serialNumber, signature, issuer, ...
    return _tlv(0x30, _tlv(0x30, b"".join(fields)) + algorithm + signature)


def pem(*ders: bytes) -> bytes:
    """PEM blocks separated by blank lines, as Alipay's files are (python-alipay-sdk splits on them)."""
    blocks = []
    for der in ders:
        body = base64.encodebytes(der).replace(b"\n", b"")
        lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        blocks.append(b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n")
    return b"\n".join(blocks)


def ant_name(common_name: str, *, organisation: str = "TEST ONLY Ant", unit: str = "Certification Authority") -> x509.Name:
    """Names written C, O, OU, CN in the DER like Alipay's, so the issuer string reads CN=…,OU=…,O=…,C=CN."""
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


@dataclass(frozen=True)
class AlipayLikeFiles:
    """Files shaped like Alipay's real ones: a root file of SM2, RSA (R1), ECDSA-with-NULL (E1) and RSA (G3) roots
    whose CA flags are non-critical as in Alipay's, an Alipay certificate valid 2025-03-12 to 2030-03-11 issued by
    an intermediate under R1, and an app certificate issued by another intermediate under R1."""

    root_file: bytes
    alipay_chain: bytes  # the Alipay certificate, then its intermediate (as Alipay hands the file out)
    alipay_alone: bytes  # the Alipay certificate without its intermediate
    app_cert: bytes
    rsa_roots: tuple[x509.Certificate, ...]


def _build(subject: x509.Name, issuer: x509.Name, public: Any, signer: Any, serial: int, start: datetime,
           end: datetime, *, ca: bool) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
        .serial_number(serial).not_valid_before(start).not_valid_after(end)
    )
    if ca:  # non-critical, as in Alipay's real roots and intermediates
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
    return builder.sign(signer, hashes.SHA256())


def alipay_like_files() -> AlipayLikeFiles:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # one key signs the whole tree:
    ec_key = ec.generate_private_key(ec.SECP256R1())  # names, not keys, are what this hierarchy is about
    far_start, far_end = utc(2018, 1, 1), utc(2045, 1, 1)
    r1_name, g3_name = ant_name("TEST ONLY Ant Root R1"), ant_name("TEST ONLY iTrus Root G3", organisation="TEST ONLY iTrus")
    r1 = _build(r1_name, r1_name, rsa_key.public_key(), rsa_key, 0x6A2E5F3B1D0C9E8F7A6B5C4D3E2F1A0B, far_start,
                far_end, ca=True)
    g3 = _build(g3_name, g3_name, rsa_key.public_key(), rsa_key, 0x1C2D3E4F5A6B7C8D, far_start, far_end, ca=True)
    sm2 = _build(ant_name("TEST ONLY SM2 Root"), ant_name("TEST ONLY SM2 Root"), ec_key.public_key(), ec_key, 77,
                 far_start, far_end, ca=True)
    e1 = _build(ant_name("TEST ONLY Ant Root E1"), ant_name("TEST ONLY Ant Root E1"), ec_key.public_key(), ec_key, 78,
                far_start, far_end, ca=True)
    class1, class2 = ant_name("TEST ONLY Ant Class 1 R1"), ant_name("TEST ONLY Ant Class 2 R1")
    inter2 = _build(class2, r1_name, rsa_key.public_key(), rsa_key, 0x2019082800000001, far_start, far_end, ca=True)
    alipay = _build(ant_name("TEST ONLY Alipay", organisation="TEST ONLY Alipay", unit="Alipay"), class2,
                    rsa_key.public_key(), rsa_key, 0x20250312000000000000000000000001, utc(2025, 3, 12),
                    utc(2030, 3, 11), ca=False)
    app = _build(ant_name(APP_ID, organisation="TEST ONLY Merchant", unit="Alipay"), class1,
                 app_private_key().public_key(), rsa_key, 0x20200716000000000000000000000002, far_start, far_end,
                 ca=False)
    der = serialization.Encoding.DER
    root_file = pem(with_signature_algorithm(sm2, SM2_WITH_SM3), r1.public_bytes(der),
                    with_signature_algorithm(e1, ECDSA_SHA256_WITH_NULL), g3.public_bytes(der))
    return AlipayLikeFiles(root_file, pem(alipay.public_bytes(der), inter2.public_bytes(der)),
                           pem(alipay.public_bytes(der)), pem(app.public_bytes(der)), (r1, g3))
