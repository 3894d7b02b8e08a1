"""Recovery over the real wire: payments whose notification never came, expired ones, late successes, and two
recovery processes at once, against the local Alipay sandbox on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.domain.ids import utcnow
from gateway.metrics import Metrics
from gateway.runtime import RunningGateway, start
from gateway.service.recovery import PaymentRecovery, RecoveryReport
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.e2e.alipay_world import wait_until
from tests.e2e.checkout_support import wait_for_state
from tests.support import CashierClient, cashier_cli, make_settings, running_gateway, seed_tenant


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with running_gateway(make_settings(database_url, channels={"alipay": alipay.channel_table}), housekeeping=False) as running:
        yield running


def recovery(gateway: RunningGateway, ahead: timedelta, metrics: Metrics | None = None, **kw: object) -> PaymentRecovery:
    """The gateway's recovery, seeing the time `ahead` of now."""
    gw = gateway.gateway
    metrics = metrics or gw.metrics
    return PaymentRecovery(gw.payments.uow, gw.channels, lambda: utcnow() + ahead, payments=gw.payments,  # type: ignore[arg-type]
                      observe_channel=metrics.observe_channel, observe_result=metrics.observe_recovered, **kw)


def drop_notifications(alipay: LocalAlipay) -> None:
    httpx.post(f"{alipay.url}/sandbox/faults", json={"drop_notifications": -1}).raise_for_status()


def open_at_alipay(alipay: LocalAlipay, payment: pb.Payment, pay: bool) -> dict:  # type: ignore[type-arg]
    answer = httpx.post(f"{alipay.url}/sandbox/app-pay",
                        json={"order_string": payment.action.app_pay.order_string, "pay": pay})
    assert answer.status_code == 200, answer.text
    return answer.json()


def trade(alipay: LocalAlipay, payment: pb.Payment) -> dict:  # type: ignore[type-arg]
    answer = httpx.get(f"{alipay.url}/sandbox/trades/{payment.name.rsplit('/', 1)[1]}")
    answer.raise_for_status()
    return answer.json()


def state(app: CashierClient, payment: pb.Payment) -> int:
    return app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata()).payment.state


def paid_but_not_told(app: CashierClient, alipay: LocalAlipay, **fields: object) -> pb.Payment:
    """A payment the buyer paid at Alipay whose notification never reaches the gateway."""
    payment = app.create(**fields)
    assert trade_paid(open_at_alipay(alipay, payment, pay=True))
    return payment


def trade_paid(answer: dict) -> bool:  # type: ignore[type-arg]
    return answer.get("resultStatus") == "9000"


def test_a_dropped_notification_is_recovered(app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    drop_notifications(alipay)
    payment = paid_but_not_told(app, alipay, amount=4200)
    time.sleep(0.5)  # the sandbox's retries (scaled down) would have arrived by now
    assert state(app, payment) == pb.PAYMENT_STATE_PENDING
    assert recovery(gateway, timedelta(seconds=30)).run().claimed == []  # too young to ask about
    report = recovery(gateway, timedelta(seconds=61)).run()
    assert (len(report.claimed), report.queried, report.paid, report.pending) == (1, 1, 1, 0)
    got = app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata()).payment
    assert got.state == pb.PAYMENT_STATE_SUCCEEDED
    metrics = httpx.get(f"{gateway.http_url}/metrics").text
    assert 'cashier_recovered_total{channel="mobile",result="paid"} 1.0' in metrics
    assert 'cashier_channel_calls_total{channel="mobile",operation="query",outcome="SUCCEEDED"} 1.0' in metrics


def test_cashier_recover_payments_recovers_it_too(app: CashierClient, alipay: LocalAlipay, database_url: str,
                                                   tmp_path: Path) -> None:
    drop_notifications(alipay)
    payment = paid_but_not_told(app, alipay)
    config = tmp_path / "cashier.toml"
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in alipay.channel_table.items())
    config.write_text(f"[recovery]\npending_after_seconds = 0\n\n[channels.alipay]\n{table}\n")
    out = cashier_cli("--config", str(config), "recover", "payments", database_url=database_url,
                      extra_env={"CASHIER_LOAD_CHANNELS": "mobile"}).stdout
    assert "recovered payments: claimed 1, queried 1, paid 1, closed 0, still pending 0" in out
    assert state(app, payment) == pb.PAYMENT_STATE_SUCCEEDED


def test_an_expired_payment_is_closed_at_alipay_and_here(app: CashierClient, alipay: LocalAlipay,
                                                         gateway: RunningGateway) -> None:
    opened = app.create(expire_after=Duration(seconds=60))
    open_at_alipay(alipay, opened, pay=False)  # the buyer looked at it and walked away
    never_opened = app.create(expire_after=Duration(seconds=60))
    assert trade(alipay, opened)["status"] == "WAIT_BUYER_PAY"
    assert recovery(gateway, timedelta(seconds=50)).run().closed == 0
    report = recovery(gateway, timedelta(seconds=61)).run()
    assert (report.closed, report.paid) == (2, 0)
    assert trade(alipay, opened)["status"] == "TRADE_CLOSED"
    assert httpx.get(f"{alipay.url}/sandbox/trades/{never_opened.name.rsplit('/', 1)[1]}").status_code == 404
    assert state(app, opened) == state(app, never_opened) == pb.PAYMENT_STATE_CLOSED
    # Both are closed at Alipay now: nothing is left to ask, however late.
    assert recovery(gateway, timedelta(hours=2)).run().claimed == []


def test_closed_here_then_paid_at_alipay_is_recorded_and_flagged(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway, caplog: pytest.LogCaptureFixture) -> None:
    drop_notifications(alipay)
    payment = app.create(amount=3300)
    closed = app.stub.ClosePayment(svc.ClosePaymentRequest(name=payment.name), metadata=app.metadata()).payment
    assert closed.state == pb.PAYMENT_STATE_CLOSED
    assert trade_paid(open_at_alipay(alipay, payment, pay=True))  # the buyer still had the order string
    with caplog.at_level(logging.WARNING, logger="gateway"):
        report = recovery(gateway, timedelta(0)).run()
    assert (report.paid, report.queried) == (1, 1)  # Alipay refused to close a paid trade; the query said why
    assert state(app, payment) == pb.PAYMENT_STATE_SUCCEEDED
    flags = [(f.kind.value, f.payment_id) for f in gateway.gateway.flags.list()]
    assert flags == [("LATE_SUCCESS", payment.name.rsplit("/", 1)[1])]
    assert trade(alipay, payment)["status"] == "TRADE_SUCCESS"
    metrics = httpx.get(f"{gateway.http_url}/metrics").text
    assert 'cashier_recovered_total{channel="mobile",result="late_success"} 1.0' in metrics


def test_two_recoveries_never_ask_about_the_same_payment(app: CashierClient, alipay: LocalAlipay,
                                                          gateway: RunningGateway, database_url: str) -> None:
    drop_notifications(alipay)
    payments = [paid_but_not_told(app, alipay, amount=1000 + n) for n in range(8)]
    # Every query answers 0.1 s late, so that both recovery processes are busy at the same time.
    httpx.post(f"{alipay.url}/sandbox/faults",
               json={"timeout": [{"method": "alipay.trade.query", "count": -1, "seconds": 0.1}]}).raise_for_status()
    metrics = [Metrics(), Metrics()]
    engines = []
    workers = [recovery(gateway, timedelta(seconds=61), metrics[0], batch=2)]
    if database_url.startswith("postgresql"):
        # Another process, as far as the database can tell: its own engine, connections and services.
        engines.append(make_engine(database_url, pool_size=2))
        workers.append(PaymentRecovery(SqlUnitOfWorkFactory(engines[0]), gateway.gateway.channels,
                                  lambda: utcnow() + timedelta(seconds=61), batch=2,
                                  observe_channel=metrics[1].observe_channel))
    else:
        workers.append(recovery(gateway, timedelta(seconds=61), metrics[1], batch=2))
    reports: list[RecoveryReport] = []
    barrier = threading.Barrier(2)

    def work(r: PaymentRecovery) -> None:
        barrier.wait()
        reports.append(r.run_until_done())

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for engine in engines:
        engine.dispose()
    first, other = reports
    assert set(first.claimed).isdisjoint(other.claimed)
    assert first.claimed and other.claimed  # both worked
    ids = {p.name.rsplit("/", 1)[1] for p in payments}
    assert set(first.claimed) | set(other.claimed) == ids
    assert first.paid + other.paid == 8 and first.queried + other.queried == 8
    # What the channel was really asked, as each recovery's metrics counted it: 8 queries in all.
    queries = [m.registry.get_sample_value("cashier_channel_calls_total", {
        "channel": "mobile", "operation": "query", "outcome": "SUCCEEDED"}) or 0 for m in metrics]
    assert sum(queries) == 8 and all(queries)
    assert all(state(app, p) == pb.PAYMENT_STATE_SUCCEEDED for p in payments)


@contextmanager
def serving(database_url: str, alipay: LocalAlipay, **recovery: float) -> Iterator[tuple[RunningGateway, CashierClient]]:
    """A gateway with its background jobs on, as `cashier serve` runs it, recovering as `recovery` says; the
    sandbox drops every notification. Needs CASHIER_LOAD_CHANNELS=mobile."""
    running = start(make_settings(database_url, channels={"alipay": alipay.channel_table}, recovery=recovery))
    try:
        with grpc.insecure_channel(running.grpc_target) as channel:
            drop_notifications(alipay)
            yield running, CashierClient(channel, seed_tenant(running.gateway))
    finally:
        running.stop(0.5)


def test_the_serving_gateway_recovers_on_its_own(database_url: str, alipay: LocalAlipay,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    # A round may ask before the buyer has paid (no trade yet): the next look is `revisit_seconds` later, well
    # inside the wait here (the default is 60).
    with serving(database_url, alipay, pending_after_seconds=0, every_seconds=0.2, revisit_seconds=1) as (_, app):
        payment = paid_but_not_told(app, alipay)
        assert wait_for_state(app, payment, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED


def test_a_payment_asked_about_before_the_buyer_paid_is_asked_again(database_url: str, alipay: LocalAlipay,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving gateway's recovery may ask about a payment before the buyer has opened it at Alipay (no
    trade yet: still pending). It asks again `revisit_seconds` later, and then finds it paid."""
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with serving(database_url, alipay, pending_after_seconds=0, every_seconds=0.1, revisit_seconds=1) as (running, app):
        payment = app.create()
        asked = 'cashier_recovered_total{channel="mobile",result="pending"} 1.0'
        wait_until(lambda: asked in httpx.get(f"{running.http_url}/metrics").text)  # asked before the buyer paid
        assert trade_paid(open_at_alipay(alipay, payment, pay=True))
        assert wait_for_state(app, payment, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED


def test_the_old_reconcile_section_still_works_for_one_release(app: CashierClient, alipay: LocalAlipay,
                                                               database_url: str, tmp_path: Path) -> None:
    drop_notifications(alipay)
    payment = paid_but_not_told(app, alipay)
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in alipay.channel_table.items())
    both = tmp_path / "both.toml"
    both.write_text(f"[reconcile]\npending_after_seconds = 0\n\n[recovery]\nbatch = 5\n\n[channels.alipay]\n{table}\n")
    refused = cashier_cli("--config", str(both), "recover", "payments", database_url=database_url, check=False,
                          extra_env={"CASHIER_LOAD_CHANNELS": "mobile"})
    assert refused.returncode == 1
    assert "[reconcile] is the old name of [recovery]: give [recovery] only" in refused.stderr
    assert state(app, payment) == pb.PAYMENT_STATE_PENDING  # refused before anything was done

    old = tmp_path / "old.toml"
    old.write_text(f"[reconcile]\npending_after_seconds = 0\n\n[channels.alipay]\n{table}\n")
    out = cashier_cli("--config", str(old), "recover", "payments", database_url=database_url,
                      extra_env={"CASHIER_LOAD_CHANNELS": "mobile"})
    assert "[reconcile] is deprecated" in out.stderr and "rename it [recovery]" in out.stderr
    assert "recovered payments: claimed 1, queried 1, paid 1" in out.stdout  # pending_after_seconds = 0 applied
    assert state(app, payment) == pb.PAYMENT_STATE_SUCCEEDED
