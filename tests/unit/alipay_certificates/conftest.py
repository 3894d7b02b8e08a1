"""One sandbox CA per module for the read-only tests (a CA costs five RSA keys, about a second)."""

from __future__ import annotations

import pytest

from channels.alipay.sandbox.certificates import SandboxCertificateAuthority

from .certkit import APP_ID, app_private_key


@pytest.fixture(scope="module")
def shared_ca() -> SandboxCertificateAuthority:
    """A sandbox CA that has certified the TEST-ONLY app key; tests must not rotate or re-issue on it."""
    ca = SandboxCertificateAuthority()
    ca.issue_app_certificate(APP_ID, app_private_key().public_key())
    return ca
