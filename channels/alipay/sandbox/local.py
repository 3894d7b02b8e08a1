"""A local Alipay for the demo, the benchmarks and the tests: a sandbox on a free port, an app key pair
generated on the spot (never committed), and the `[channels.alipay]` table that points a gateway at it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .config import SandboxConfig
from .server import SandboxHandle, start_in_thread

LOCAL_APP_ID = "2021000000000001"


@dataclass
class LocalAlipay:
    handle: SandboxHandle
    app_id: str
    channel_table: dict[str, Any]

    @property
    def url(self) -> str:
        return self.handle.url

    def stop(self) -> None:
        self.handle.stop()


def start_local_alipay(key_dir: Path, *, app_id: str = LOCAL_APP_ID, time_scale: float = 1.0,
                       notify_url: str | None = None, port: int = 0, certificate_mode: bool = False,
                       accounts: dict[str, str] | None = None) -> LocalAlipay:
    """Write a fresh app key pair and the sandbox's public key under key_dir; start the sandbox.

    ``certificate_mode``: the app signs in certificate mode (transfers need it); the three certificate files
    are written under key_dir and the table names them. ``accounts``: logon id -> holder name, for transfers.
    """
    key_dir.mkdir(parents=True, exist_ok=True)
    app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_path = key_dir / "app_private_key.pem"
    private_path.write_bytes(app_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    private_path.chmod(0o600)
    app_public = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    handle = start_in_thread(SandboxConfig(port=port, apps={app_id: app_public}, time_scale=time_scale,
                                           certificate_apps=(app_id,) if certificate_mode else (),
                                           accounts=dict(accounts or {})))
    table: dict[str, Any] = {
        "gateway_url": handle.gateway_url,
        "app_id": app_id,
        "app_private_key_file": str(private_path),
    }
    if certificate_mode:
        ca = handle.sandbox.ca
        issued = ca.app_certificate(app_id)
        assert issued is not None
        for key, name, pem in (("app_cert_file", f"appCertPublicKey_{app_id}.crt", issued.pem),
                               ("alipay_cert_file", "alipayCertPublicKey_RSA2.crt", ca.alipay_certificate.pem),
                               ("alipay_root_cert_file", "alipayRootCert.crt", ca.root_pem)):
            (key_dir / name).write_bytes(pem)
            table[key] = str(key_dir / name)
    else:
        alipay_public_path = key_dir / "alipay_public_key.pem"
        alipay_public_path.write_text(handle.sandbox.public_key_pem)
        table["alipay_public_key_file"] = str(alipay_public_path)
    if notify_url:
        table["notify_url"] = notify_url
    return LocalAlipay(handle, app_id, table)
