"""Issue 20's aio spike (spikes/aio) still serves a real CreatePayment over gRPC, so that it cannot rot
silently: a subprocess on a free port over a fresh SQLite database, the test channel plugin, the payment
read back from the database; a clashing out_trade_no is refused by the writer thread's savepoint alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cashier.v1 import payment_pb2 as pb
from gateway.bootstrap import Gateway, bootstrap
from tests.support import CashierClient, Tenant, make_settings, seed_tenant

START_TIMEOUT = 30.0


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[str, Gateway, Tenant]]:
    url = f"sqlite:///{tmp_path}/cashier.db"
    gateway = bootstrap(make_settings(url))  # migrates the database the spike will serve
    try:
        yield url, gateway, seed_tenant(gateway)
    finally:
        gateway.close()


@pytest.fixture
def spike(seeded: tuple[str, Gateway, Tenant], tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "spike.toml"
    config.write_text('[logging]\nlevel = "WARNING"\n')
    env = {**os.environ, "CASHIER_DATABASE_URL": seeded[0]}
    proc = subprocess.Popen([sys.executable, "-P", "-m", "spikes.aio.server", "--config", str(config), "--no-jobs"],
                            env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "spike: gRPC on HOST:PORT", or "" if it died
        if " on " not in line:
            proc.kill()
            _, err = proc.communicate(timeout=START_TIMEOUT)
            raise AssertionError(f"the spike did not start: {line!r}\n{err[-3000:]}")
        yield line.split(" on ", 1)[1].strip()
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=START_TIMEOUT)


def test_the_spike_serves_create_payment_and_stores_it(seeded: tuple[str, Gateway, Tenant], spike: str) -> None:
    _url, gateway, tenant = seeded
    with grpc.insecure_channel(spike) as channel:
        client = CashierClient(channel, tenant)
        payment = client.create(out_trade_no="spike-order-1")

        with pytest.raises(grpc.RpcError) as clash:
            client.create(out_trade_no="spike-order-1", amount=100)

    assert payment.state == pb.PAYMENT_STATE_PENDING and payment.amount == 2590 and payment.channel
    assert clash.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with gateway.payments.uow() as uow:
        stored = uow.payments.get(tenant.merchant_id, payment.name.rsplit("/", 1)[-1])
    assert stored is not None
    assert (stored.out_trade_no, stored.amount, stored.channel) == ("spike-order-1", 2590, payment.channel)
