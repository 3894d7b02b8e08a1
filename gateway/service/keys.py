"""API keys: generated once, shown once, stored only as a hash.

Keys carry 256 bits of randomness, so a single SHA-256 is enough to make the stored hash useless to a
thief (no dictionary to try); a slow password hash would only slow down every call.

An app or operator holds at most two live keys, so that a key can be rolled without downtime: the new key
is issued, the old one stays live for a grace period while the holder deploys the new one, then it is
refused. A revoked key is refused at once (within `[auth] cache_seconds`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.domain.merchants import PrincipalKind

APP_KEY_PREFIX = "ck_app_"
OPERATOR_KEY_PREFIX = "ck_op_"
KEY_PREFIXES = {PrincipalKind.APP: APP_KEY_PREFIX, PrincipalKind.OPERATOR: OPERATOR_KEY_PREFIX}

MAX_LIVE_KEYS = 2
# A day covers a working day's deploy of every instance of a trading app, with time to roll back, while
# keeping the window in which a leaked old key still works short; a compromised key is revoked instead.
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=30)


def new_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The part of a key safe to show in listings and logs to tell keys apart."""
    return key[: len(APP_KEY_PREFIX) + 4] if key.startswith(APP_KEY_PREFIX) else key[: len(OPERATOR_KEY_PREFIX) + 4]


def key_id(key_hash: str) -> str:
    """A key's stable name for operators (what `revoke-key` accepts besides the prefix). Taken from the
    hash, so that migration 0009 (API keys) could name the keys stored before it the same way."""
    return "key_" + key_hash[:12]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key of an app or operator, as stored: never the key itself."""

    id: str
    principal_kind: PrincipalKind
    principal_id: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def state(self, now: datetime) -> str:
        """What `cashier apps list` shows: live, live until …, expired …, revoked …"""
        if self.revoked_at is not None:
            return f"revoked {self.revoked_at.isoformat(timespec='seconds')}"
        if self.expires_at is None:
            return "live"
        when = self.expires_at.isoformat(timespec="seconds")
        return f"live until {when}" if self.expires_at > now else f"expired {when}"
