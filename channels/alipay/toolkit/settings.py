"""The `[channels.alipay]` configuration table, shared by every channel that pays through Alipay.

    [channels.alipay]
    gateway_url = "https://openapi.alipay.com/gateway.do"   # or Alipay's sandbox, or `cashier sandbox`
    app_id = "2021000000000000"
    app_private_key_file = "/etc/cashier/app_private_key.pem"   # or app_private_key_env = "NAME"
    alipay_public_key_file = "/etc/cashier/alipay_public_key.pem"  # or alipay_public_key_env = "NAME"
    notify_url = "https://pay.example.com/notify/alipay"        # optional
    seller_id = "2088000000000000"   # optional: the platform's Alipay PID; a notification paid to another is refused

Keys are read from files or environment variables, never from the table itself, so that the
configuration file can be shared and committed without secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.alipay.rail.client import AlipayClient
from channels.alipay.rail.errors import AlipayConfigError
from channels.alipay.rail.keys import PrivateKey, PublicKey
from channels.alipay.rail.signing import PublicKeyCredentials

_KNOWN = {"gateway_url", "app_id", "app_private_key_file", "app_private_key_env", "alipay_public_key_file",
          "alipay_public_key_env", "notify_url", "connect_timeout", "read_timeout", "seller_id"}
# An Alipay PID (partner id): 16 digits starting 2088.
_PID = re.compile(r"2088\d{12}")


@dataclass(frozen=True)
class AlipaySettings:
    gateway_url: str
    credentials: PublicKeyCredentials
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
        public = _load(table, "alipay_public_key", PublicKey)
        return cls(
            gateway_url=str(table["gateway_url"]),
            credentials=PublicKeyCredentials(str(table["app_id"]), private, public),
            notify_url=table.get("notify_url") or None,
            connect_timeout=float(table.get("connect_timeout", 5.0)),
            read_timeout=float(table.get("read_timeout", 15.0)),
            seller_id=seller_id,
        )

    def client(self) -> AlipayClient:
        """One client (one connection pool) per channel object, made once at start-up."""
        return AlipayClient(self.gateway_url, self.credentials, notify_url=self.notify_url,
                            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout)


def _load(table: Mapping[str, Any], prefix: str, kind: type[PrivateKey] | type[PublicKey]) -> Any:
    path, env = table.get(f"{prefix}_file"), table.get(f"{prefix}_env")
    if bool(path) == bool(env):
        raise AlipayConfigError(f"[channels.alipay] needs exactly one of {prefix}_file and {prefix}_env")
    return kind.from_file(path) if path else kind.from_env(table[f"{prefix}_env"])
