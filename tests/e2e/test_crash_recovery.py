"""Killing the gateway (SIGKILL, no shutdown at all) while the Alipay sandbox is delivering payment
notifications loses nothing, on SQLite and PostgreSQL: after a restart, Alipay's own retries, or the
recovery when Alipay stops sending, bring every paid payment to SUCCEEDED, each with exactly one
`payment.succeeded` event in the outbox."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import select

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.storage.engine import make_engine
from gateway.storage.tables import events
from tests.e2e.test_webhooks import wait_until
from tests.support import CashierClient, ServeProcess, Tenant, seed_with_cli

PAYMENTS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    """`cashier serve` on fixed ports (Alipay keeps the notify URL it was given), restartable."""

    def __init__(self, database_url: str, config: Path):
        self.database_url = database_url
        self.grpc, self.http = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        self.env = {"CASHIER_CONFIG": str(config), "CASHIER_LOAD_CHANNELS": "mobile"}
        self.process: ServeProcess | None = None

    def start(self) -> None:
        self.process = ServeProcess(self.database_url, "--grpc", self.grpc, "--http", self.http, extra_env=self.env)

    def sigkill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no graceful anything
        assert self.process.proc.returncode == -9

    def stop(self) -> None:
        if self.process is not None and self.process.proc.poll() is None:
            self.process.terminate()
        if self.process is not None:
            self.process.kill()


def write_config(path: Path, alipay: LocalAlipay, recovery: dict[str, float]) -> Path:
    lines = ["[logging]", 'level = "WARNING"', "[recovery]"]
    lines += [f"{key} = {value}" for key, value in recovery.items()]
    lines += ["[channels.alipay]"] + [f"{key} = {json.dumps(value)}" for key, value in alipay.channel_table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tenant(database_url: str) -> Tenant:
    return seed_with_cli(database_url)


def create_and_pay(gateway: Gateway, tenant: Tenant, alipay: LocalAlipay) -> list[str]:
    """Create PAYMENTS payments and have buyers pay all of them at Alipay, SIGKILLing the gateway right
    after the first half paid, while their notifications are still arriving and being handled."""
    with grpc.insecure_channel(gateway.grpc) as channel:
        app = CashierClient(channel, tenant)
        orders = [app.create(amount=1000 + i) for i in range(PAYMENTS)]
    with httpx.Client() as client:
        for i, order in enumerate(orders):
            if i == PAYMENTS // 2:
                gateway.sigkill()
            answer = client.post(f"{alipay.url}/sandbox/app-pay",
                                 json={"order_string": order.action.app_pay.order_string, "pay": True})
            assert answer.status_code == 200, answer.text
    return [order.name for order in orders]


def notifications(alipay: LocalAlipay) -> list[dict[str, Any]]:
    return list(httpx.get(f"{alipay.url}/sandbox/notifications").json()["notifications"])


def acknowledged(alipay: LocalAlipay) -> int:
    return sum(1 for n in notifications(alipay) if n["delivered"])


def states(gateway: Gateway, tenant: Tenant, names: list[str]) -> Counter[int]:
    with grpc.insecure_channel(gateway.grpc) as channel:
        app = CashierClient(channel, tenant)
        return Counter(app.stub.GetPayment(svc.GetPaymentRequest(name=name), metadata=app.metadata()).payment.state
                       for name in names)


def succeeded_events(database_url: str) -> Counter[str]:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(events.c.payload).where(events.c.type == "payment.succeeded")).all()
    finally:
        engine.dispose()
    return Counter(row.payload["data"]["payment"]["name"] for row in rows)


@pytest.fixture
def gateway_factory(database_url: str) -> Iterator[list[Gateway]]:
    made: list[Gateway] = []
    yield made
    for gateway in made:
        gateway.stop()


def test_alipay_retries_bring_every_paid_payment_to_succeeded_after_a_sigkill(
        database_url: str, alipay: LocalAlipay, tenant: Tenant, tmp_path: Path, gateway_factory: list[Gateway]) -> None:
    config = write_config(tmp_path / "cashier.toml", alipay, {"every_seconds": 3600})  # no recovery: retries only
    gateway = Gateway(database_url, config)
    gateway_factory.append(gateway)
    gateway.start()
    names = create_and_pay(gateway, tenant, alipay)
    # Notifications that were not acknowledged when the gateway died are Alipay's to send again.
    assert acknowledged(alipay) <= PAYMENTS // 2
    gateway.start()  # same database, same ports: the notify URL Alipay holds
    wait_until(lambda: states(gateway, tenant, names) == Counter({pb.PAYMENT_STATE_SUCCEEDED: PAYMENTS}), timeout=60)
    assert succeeded_events(database_url) == Counter({name: 1 for name in names})
    wait_until(lambda: acknowledged(alipay) == PAYMENTS, timeout=30)
    retried = [n for n in notifications(alipay) if len(n["attempts"]) > 1]
    assert retried, "the kill should have left Alipay notifications to retry"


def test_recovery_brings_them_in_when_alipay_stops_retrying(
        database_url: str, alipay: LocalAlipay, tenant: Tenant, tmp_path: Path, gateway_factory: list[Gateway]) -> None:
    config = write_config(tmp_path / "cashier.toml", alipay,
                          {"every_seconds": 0.2, "pending_after_seconds": 0.5, "revisit_seconds": 0.5})
    gateway = Gateway(database_url, config)
    gateway_factory.append(gateway)
    gateway.start()
    names = create_and_pay(gateway, tenant, alipay)
    # From now on every notification is lost on the way: only asking Alipay can find the payments.
    httpx.post(f"{alipay.url}/sandbox/faults", json={"drop_notifications": -1}).raise_for_status()
    gateway.start()
    wait_until(lambda: states(gateway, tenant, names) == Counter({pb.PAYMENT_STATE_SUCCEEDED: PAYMENTS}), timeout=60)
    assert succeeded_events(database_url) == Counter({name: 1 for name in names})
    assert acknowledged(alipay) < PAYMENTS  # recovery, not a notification, did it
