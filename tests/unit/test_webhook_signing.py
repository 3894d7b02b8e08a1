"""verify_webhook: genuine signatures pass; tampered bodies, wrong secrets, stale or future timestamps and
malformed headers are refused."""

from __future__ import annotations

import time

import pytest

from gateway.webhook_signing import sign_webhook, verify_webhook

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"payment.succeeded"}'


def test_a_genuine_signature_verifies() -> None:
    assert verify_webhook(SECRET, sign_webhook(SECRET, BODY), BODY)


def test_the_header_format() -> None:
    header = sign_webhook(SECRET, BODY, timestamp=1764000000)
    t, v1 = header.split(",")
    assert t == "t=1764000000" and v1.startswith("v1=") and len(v1) == 3 + 64
    assert verify_webhook(SECRET, header, BODY, now=1764000000)


@pytest.mark.parametrize("body", [BODY + b" ", BODY.replace(b"evt_1", b"evt_2"), b""])
def test_a_tampered_body_is_refused(body: bytes) -> None:
    assert not verify_webhook(SECRET, sign_webhook(SECRET, BODY), body)


def test_another_secret_is_refused() -> None:
    assert not verify_webhook("whsec_other", sign_webhook(SECRET, BODY), BODY)


def test_a_changed_timestamp_is_refused() -> None:
    now = int(time.time())
    header = sign_webhook(SECRET, BODY, timestamp=now)
    forged = header.replace(f"t={now}", f"t={now + 1}")
    assert not verify_webhook(SECRET, forged, BODY)


def test_the_replay_window() -> None:
    signed_at = 1764000000
    header = sign_webhook(SECRET, BODY, timestamp=signed_at)
    assert verify_webhook(SECRET, header, BODY, now=signed_at + 300)
    assert not verify_webhook(SECRET, header, BODY, now=signed_at + 301)  # replayed too late
    assert not verify_webhook(SECRET, header, BODY, now=signed_at - 301)  # from the future
    assert verify_webhook(SECRET, header, BODY, tolerance=3600, now=signed_at + 3000)


def test_one_of_several_signatures_is_enough() -> None:
    header = sign_webhook(SECRET, BODY, timestamp=1764000000)
    rotated = header.replace("v1=", "v1=" + "0" * 64 + ",v1=")
    assert verify_webhook(SECRET, rotated, BODY, now=1764000000)


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=00", "v1=00", "t=1764000000", "t=1764000000,v1="])
def test_malformed_headers_are_refused(header: str) -> None:
    assert not verify_webhook(SECRET, header, BODY, now=1764000000)
