"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from channels.alipay.sandbox.local import LocalAlipay, start_local_alipay
from gateway.runtime import RunningGateway
from tests.support import CashierClient, seed_tenant


@pytest.fixture
def alipay(tmp_path: Path) -> Iterator[LocalAlipay]:
    """A local Alipay (the sandbox, fresh app keys) whose notification retries are compressed 2000-fold."""
    local = start_local_alipay(tmp_path / "keys", time_scale=0.0005)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def app(gateway: RunningGateway) -> Iterator[CashierClient]:
    """A trading app acting for a freshly seeded merchant ("Tea House"), on the test module's `gateway`."""
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        yield CashierClient(channel, seed_tenant(gateway.gateway))
