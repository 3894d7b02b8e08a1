"""The `[channels.alipay]` configuration table, shared by every channel that pays through Alipay.

    [channels.alipay]
    gateway_url = "https://openapi.alipay.com/gateway.do"   # or Alipay's sandbox, or `cashier sandbox`
    app_id = "2021000000000000"
    app_private_key_file = "/etc/cashier/app_private_key.pem"   # or app_private_key_env = "NAME"
    alipay_public_key_file = "/etc/cashier/alipay_public_key.pem"  # or alipay_public_key_env = "NAME"
    notify_url = "https://pay.example.com/notify/alipay"        # optional
    seller_id = "2088000000000000"   # optional: the platform's Alipay PID; a notification paid to another is refused

Certificate mode (公钥证书模式), which Alipay requires for transfers: instead of ``alipay_public_key_*``, the
three certificate files, all three or none:

    app_cert_file = "/etc/cashier/appCertPublicKey_2021000000000000.crt"
    alipay_cert_file = "/etc/cashier/alipayCertPublicKey_RSA2.crt"
    alipay_root_cert_file = "/etc/cashier/alipayRootCert.crt"

An Alipay app signs in one mode, so the files switch every call of the app (trades, refunds, transfers,
notification checks) to certificate mode. Keys are read from files or environment variables, never from the
table itself, so that the configuration file can be shared and committed without secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.alipay.rail.cert_files import read_certificate_file
from channels.alipay.rail.certificates import CertificateCredentials, load_certificate_mode
from channels.alipay.rail.client import TRANSFER_NEEDS_CERTIFICATE_MODE, AlipayClient
from channels.alipay.rail.errors import AlipayConfigError
from channels.alipay.rail.keys import PrivateKey, PublicKey
from channels.alipay.rail.signing import AlipayCredentials, PublicKeyCredentials

CERTIFICATE_KEYS = ("app_cert_file", "alipay_cert_file", "alipay_root_cert_file")
_KNOWN = {"gateway_url", "app_id", "app_private_key_file", "app_private_key_env", "alipay_public_key_file",
          "alipay_public_key_env", "notify_url", "connect_timeout", "read_timeout", "seller_id",
          *CERTIFICATE_KEYS}
# An Alipay PID (partner id): 16 digits starting 2088.
_PID = re.compile(r"2088\d{12}")


@dataclass(frozen=True)
class AlipaySettings:
    gateway_url: str
    credentials: AlipayCredentials
    notify_url: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    #: The payee every notification must name (its seller_id); None: not compared.
    seller_id: str | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> AlipaySettings:
        unknown = sorted(set(table) - _KNOWN)
        if unknown:
            raise AlipayConfigError(f"[channels.alipay] has unknown keys: {', '.join(unknown)}")
        for required in ("gateway_url", "app_id"):
            if not table.get(required):
                raise AlipayConfigError(f"[channels.alipay] needs {required}")
        seller_id = table.get("seller_id")
        if seller_id is not None and not (isinstance(seller_id, str) and _PID.fullmatch(seller_id)):
            raise AlipayConfigError("[channels.alipay] seller_id must be the platform's Alipay PID: "
                                    "16 digits starting 2088, as a string")
        private = _load(table, "app_private_key", PrivateKey)
        return cls(
            gateway_url=str(table["gateway_url"]),
            credentials=_credentials(table, str(table["app_id"]), private),
            notify_url=table.get("notify_url") or None,
            connect_timeout=float(table.get("connect_timeout", 5.0)),
            read_timeout=float(table.get("read_timeout", 15.0)),
            seller_id=seller_id,
        )

    @property
    def certificate_mode(self) -> bool:
        """Whether the app signs in certificate mode, the only mode in which Alipay accepts transfers."""
        return isinstance(self.credentials, CertificateCredentials)

    def require_transfers(self) -> None:
        """Raise ``AlipayConfigError`` saying why, for anything that cannot start without transfers."""
        if not self.certificate_mode:
            raise AlipayConfigError(f"[channels.alipay] {TRANSFER_NEEDS_CERTIFICATE_MODE}")

    def client(self) -> AlipayClient:
        """One client (one connection pool) per channel object, made once at start-up."""
        return AlipayClient(self.gateway_url, self.credentials, notify_url=self.notify_url,
                            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout)


def _load(table: Mapping[str, Any], prefix: str, kind: type[PrivateKey] | type[PublicKey]) -> Any:
    path, env = table.get(f"{prefix}_file"), table.get(f"{prefix}_env")
    if bool(path) == bool(env):
        raise AlipayConfigError(f"[channels.alipay] needs exactly one of {prefix}_file and {prefix}_env")
    return kind.from_file(path) if path else kind.from_env(table[f"{prefix}_env"])


def _credentials(table: Mapping[str, Any], app_id: str, private: PrivateKey) -> AlipayCredentials:
    """Key mode (alipay_public_key_*) or certificate mode (the three certificate files), never both."""
    given = [key for key in CERTIFICATE_KEYS if table.get(key)]
    if not given:
        return PublicKeyCredentials(app_id, private, _load(table, "alipay_public_key", PublicKey))
    missing = [key for key in CERTIFICATE_KEYS if key not in given]
    if missing:
        raise AlipayConfigError(f"[channels.alipay] certificate mode needs all three certificate files; "
                                f"{', '.join(given)} given, {', '.join(missing)} missing")
    clash = [key for key in ("alipay_public_key_file", "alipay_public_key_env") if table.get(key)]
    if clash:
        raise AlipayConfigError(f"[channels.alipay] {clash[0]} cannot be used with the certificate files: in "
                                "certificate mode Alipay's key comes from alipay_cert_file; remove one or the other")
    paths = [str(table[key]) for key in CERTIFICATE_KEYS]
    texts = [read_certificate_file(path) for path in paths]
    mode = load_certificate_mode(
        app_cert=texts[0], alipay_cert=texts[1], alipay_root_cert=texts[2], app_private_key=private.rsa,
        now=datetime.now(UTC), sources=[f"{key} {path}" for key, path in zip(CERTIFICATE_KEYS, paths, strict=True)],
    )
    return CertificateCredentials(app_id, private, mode)
