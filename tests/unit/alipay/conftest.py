"""Fixtures for the Alipay rail's unit tests; the helpers themselves live in alipay_testkit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from alipay_testkit import APP_ID, FIXED_NOW, FIXTURES, GATEWAY, FakeAlipay
from cert_testkit import certificate_credentials

from channels.alipay.rail import (
    AlipayClient,
    AlipayCredentials,
    PrivateKey,
    PublicKey,
    PublicKeyCredentials,
    RetryPolicy,
)


@pytest.fixture
def app_private_key() -> PrivateKey:
    return PrivateKey.from_file(FIXTURES / "app_private_pkcs8.pem")


@pytest.fixture
def alipay_public_key() -> PublicKey:
    return PublicKey.from_file(FIXTURES / "alipay_public.b64.txt")


@pytest.fixture
def credentials(app_private_key: PrivateKey, alipay_public_key: PublicKey) -> PublicKeyCredentials:
    return PublicKeyCredentials(APP_ID, app_private_key, alipay_public_key)


@pytest.fixture
def fake_alipay() -> FakeAlipay:
    return FakeAlipay()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _client(
    credentials: AlipayCredentials, fake_alipay: FakeAlipay, sleeps: list[float]
) -> Iterator[AlipayClient]:
    http = httpx.Client(transport=httpx.MockTransport(fake_alipay.handler))
    with AlipayClient(
        GATEWAY,
        credentials,
        http=http,
        retry=RetryPolicy(attempts=3, backoff_seconds=0.1),
        notify_url="https://cashier.test/notify/alipay",
        clock=lambda: FIXED_NOW,
        sleep=sleeps.append,
    ) as alipay:
        yield alipay
    http.close()


@pytest.fixture
def client(
    credentials: PublicKeyCredentials, fake_alipay: FakeAlipay, sleeps: list[float]
) -> Iterator[AlipayClient]:
    """A key-mode client (most tests)."""
    yield from _client(credentials, fake_alipay, sleeps)


@pytest.fixture
def cert_client(
    app_private_key: PrivateKey, fake_alipay: FakeAlipay, sleeps: list[float]
) -> Iterator[AlipayClient]:
    """A certificate-mode client whose Alipay certificate certifies the fake Alipay's key (transfers)."""
    yield from _client(certificate_credentials(app_private_key), fake_alipay, sleeps)
