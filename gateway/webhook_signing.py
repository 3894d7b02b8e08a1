"""Signing and verifying Unified Cashier webhooks. Standard library only: copy this file into your app.

Every webhook is a POST with a JSON body and two headers:

    Cashier-Event-Id: evt_01J...        (the same on every retry: de-duplicate on it)
    Cashier-Signature: t=1764000000,v1=5257a869e7...

`v1` is the hex HMAC-SHA256, keyed with your app's webhook secret (`cashier apps set-webhook APP_ID URL`
prints it once), of the timestamp, a dot, and the raw request body: f"{t}.{body}". To verify, use the
raw bytes as received (before any JSON parsing), recompute, compare in constant time, and refuse a
timestamp further than `tolerance` seconds from your clock, so that a captured request cannot be
replayed later. For example, in any web framework:

    from webhook_signing import verify_webhook

    body = request.body()  # raw bytes
    if not verify_webhook(SECRET, request.headers["Cashier-Signature"], body):
        return Response(status=400)
    event = json.loads(body)
    if already_handled(event["id"]):  # deliveries are at least once: retries repeat the same id
        return Response(status=200)
    handle(event)  # then answer any 2xx; anything else (or a timeout) is retried with back-off

Several `v1=` entries may appear (e.g. while a secret is rotated); one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Cashier-Signature"
EVENT_ID_HEADER = "Cashier-Event-Id"


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The Cashier-Signature header value for `body`, signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def verify_webhook(secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """True when `header` is a genuine Cashier-Signature of `body`, made within `tolerance` seconds."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, sig) for sig in signatures)
