"""Plugins' lifecycle hooks, called from the outbox by the gateway's lifecycle runner, on SQLite and
PostgreSQL: a payment paid at the Alipay sandbox, one closed by the app and one refunded each reach the
plugin once; a plugin that raises is called again on its own (never another plugin twice), parks after
its attempts and runs again on `rerun`; two runners over one database call each plugin once per event."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import grpc
import httpx
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from channels.contract import hookimpl
from gateway.bootstrap import bootstrap
from gateway.domain.hooks import HookRunState
from gateway.domain.payments import PaymentState
from gateway.domain.refunds import RefundState
from gateway.plugins import PluggyLifecycleHooks
from gateway.runtime import RunningGateway
from gateway.service.lifecycle import LifecycleRunner
from gateway.service.webhooks import RetryPolicy
from tests.e2e.test_payment_completion import pay_at_alipay, wait_for_state
from tests.e2e.test_webhooks import wait_until
from tests.support import CashierClient, cashier_cli, make_settings, running_gateway, seed_tenant


class Recorder:
    """A lifecycle plugin that remembers every call; `failures` makes its next calls raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures = 0
        self.lock = threading.Lock()

    def _record(self, hook: str, **arguments: Any) -> None:
        with self.lock:
            self.calls.append((hook, arguments))
            if self.failures:
                self.failures -= 1
                raise RuntimeError("the plugin's own service is down")

    def of(self, hook: str) -> list[dict[str, Any]]:
        with self.lock:
            return [arguments for name, arguments in self.calls if name == hook]

    @hookimpl
    def cashier_payment_succeeded(self, payment: Any, merchant: Any, event_id: str, config: Any) -> None:
        self._record("succeeded", payment=payment, merchant=merchant, event_id=event_id, config=config)

    @hookimpl
    def cashier_payment_closed(self, payment: Any, event_id: str) -> None:
        self._record("closed", payment=payment, event_id=event_id)

    @hookimpl
    def cashier_refund_succeeded(self, refund: Any, payment: Any, event_id: str) -> None:
        self._record("refunded", refund=refund, payment=payment, event_id=event_id)


class Bystander(Recorder):
    """A second plugin that never fails, to show a retry of the first never calls it again."""


# Plugins given as objects are named by their class; a [plugins.<name>] table enables each.
ENABLED = {"Recorder", "Bystander"}
FAST_HOOKS = {"every_seconds": 0.05, "retry_base_seconds": 0.05, "retry_cap_seconds": 0.2, "max_attempts": 4,
              "lease_seconds": 30}


def gateway_with(database_url: str, alipay: LocalAlipay, *plugins: object, housekeeping: bool = True,
                 **hooks: Any) -> AbstractContextManager[RunningGateway]:
    settings = make_settings(database_url, channels={"alipay": alipay.channel_table}, hooks={**FAST_HOOKS, **hooks},
                             recovery={"every_seconds": 3600}, plugins={"Recorder": {"greeting": "hi"}, "Bystander": {}})
    return running_gateway(settings, plugins=plugins, housekeeping=housekeeping)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def bystander() -> Bystander:
    return Bystander()


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, recorder: Recorder, bystander: Bystander,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with gateway_with(database_url, alipay, recorder, bystander) as running:
        yield running


def paid(app: CashierClient, alipay: LocalAlipay, amount: int = 4200) -> tuple[pb.Payment, dict[str, Any]]:
    payment = app.create(amount=amount)
    trade = pay_at_alipay(alipay, payment.action.app_pay.order_string)
    assert wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED
    return payment, trade


def payment_id(payment: pb.Payment) -> str:
    return payment.name.rsplit("/", 1)[1]


def buyer_of(alipay: LocalAlipay, payment: pb.Payment) -> str:
    """The buyer id the Alipay sandbox gave the buyer who paid (sent in its notification)."""
    return str(httpx.get(f"{alipay.url}/sandbox/trades/{payment_id(payment)}").json()["buyer_id"])


def test_hook_cashier_payment_succeeded(app: CashierClient, alipay: LocalAlipay, recorder: Recorder,
                                        bystander: Bystander) -> None:
    payment, _ = paid(app, alipay)
    wait_until(lambda: len(recorder.of("succeeded")) == 1 and len(bystander.of("succeeded")) == 1)
    call = recorder.of("succeeded")[0]
    assert call["payment"].id == payment_id(payment)
    assert call["payment"].state is PaymentState.SUCCEEDED
    assert call["payment"].buyer_id == buyer_of(alipay, payment) != ""
    assert call["merchant"].display_name == "Tea House"
    assert call["event_id"].startswith("evt_")
    assert call["config"]["Recorder"] == {"greeting": "hi"}
    assert bystander.of("succeeded")[0]["event_id"] == call["event_id"]


class Stranger(Recorder):
    """Installed, but the configuration has no [plugins.Stranger] table: never called."""


def test_only_plugins_enabled_in_the_configuration_are_called(database_url: str, alipay: LocalAlipay,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    recorder, stranger = Recorder(), Stranger()
    with gateway_with(database_url, alipay, recorder, stranger) as running:
        with grpc.insecure_channel(running.grpc_target) as channel:
            app = CashierClient(channel, seed_tenant(running.gateway))
            paid(app, alipay)
        wait_until(lambda: len(recorder.of("succeeded")) == 1)
        runner = LifecycleRunner(running.gateway.payments.uow, PluggyLifecycleHooks(running.gateway.plugins, ENABLED), {})
        assert {r.plugin for r in runner.list_runs()} == {"Recorder"}
    assert stranger.calls == []


def test_hook_cashier_payment_closed(app: CashierClient, recorder: Recorder) -> None:
    payment = app.create(amount=990)
    app.stub.ClosePayment(svc.ClosePaymentRequest(name=payment.name), metadata=app.metadata())
    wait_until(lambda: len(recorder.of("closed")) == 1)
    closed = recorder.of("closed")[0]["payment"]
    assert (closed.id, closed.state) == (payment_id(payment), PaymentState.CLOSED)
    assert recorder.of("succeeded") == []


def test_hook_cashier_refund_succeeded(app: CashierClient, alipay: LocalAlipay, recorder: Recorder) -> None:
    payment, _ = paid(app, alipay, amount=5000)
    app.stub.RefundPayment(svc.RefundPaymentRequest(parent=payment.name, out_refund_no="r-1", amount=1200,
                                                    reason="one cup short"), metadata=app.metadata())
    wait_until(lambda: len(recorder.of("refunded")) == 1)
    call = recorder.of("refunded")[0]
    assert (call["refund"].amount, call["refund"].state) == (1200, RefundState.SUCCEEDED)
    assert (call["payment"].id, call["payment"].state) == (payment_id(payment), PaymentState.PARTIALLY_REFUNDED)


def test_a_failing_plugin_is_called_again_on_its_own(app: CashierClient, alipay: LocalAlipay, recorder: Recorder,
                                                     bystander: Bystander, gateway: RunningGateway) -> None:
    recorder.failures = 2
    paid(app, alipay)
    wait_until(lambda: len(recorder.of("succeeded")) == 3)
    runner = LifecycleRunner(gateway.gateway.payments.uow, PluggyLifecycleHooks(gateway.gateway.plugins, ENABLED), {})
    wait_until(lambda: any(r.state is HookRunState.DONE and r.plugin.endswith("Recorder")
                           for r in runner.list_runs()))
    assert len(bystander.of("succeeded")) == 1  # the other plugin's run was done the first time
    assert len({call["event_id"] for call in recorder.of("succeeded")}) == 1  # the same event each time


def test_a_plugin_that_keeps_failing_is_parked_then_rerun(app: CashierClient, alipay: LocalAlipay, recorder: Recorder,
                                                          gateway: RunningGateway) -> None:
    recorder.failures = 1000
    paid(app, alipay)
    runner = LifecycleRunner(gateway.gateway.payments.uow, PluggyLifecycleHooks(gateway.gateway.plugins, ENABLED), {})

    def parked() -> list[Any]:
        return [r for r in runner.list_runs(HookRunState.PARKED) if r.plugin.endswith("Recorder")]

    wait_until(lambda: len(parked()) == 1)
    run = parked()[0]
    assert run.attempts == FAST_HOOKS["max_attempts"] == len(recorder.of("succeeded"))
    assert "the plugin's own service is down" in run.last_error
    database_url = str(gateway.gateway.settings.database.url)
    listed = cashier_cli("hooks", "list", "--state", "parked", database_url=database_url).stdout
    assert run.event_id in listed and "cashier_payment_succeeded" in listed and "service is down" in listed
    recorder.failures = 0
    cashier_cli("hooks", "rerun", run.event_id, run.plugin, database_url=database_url)
    not_parked = cashier_cli("hooks", "rerun", run.event_id, "nobody", database_url=database_url, check=False)
    assert not_parked.returncode == 1 and "no hook run" in not_parked.stderr
    wait_until(lambda: len(recorder.of("succeeded")) == FAST_HOOKS["max_attempts"] + 1)
    wait_until(lambda: parked() == [])


def test_two_runners_call_each_plugin_once_per_event(database_url: str, alipay: LocalAlipay,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    recorder = Recorder()
    # Payments are made with no runner at work; then two runners, each with its own database engine as a
    # second gateway process would have, race over the same outbox.
    with gateway_with(database_url, alipay, recorder, housekeeping=False) as running:
        with grpc.insecure_channel(running.grpc_target) as channel:
            app = CashierClient(channel, seed_tenant(running.gateway))
            payments = [paid(app, alipay, amount=100 + i)[0] for i in range(12)]
        assert recorder.calls == []
        second = bootstrap(running.gateway.settings, plugins=(recorder,), run_migrations=False)
        try:
            runners = [LifecycleRunner(g.payments.uow, PluggyLifecycleHooks(g.plugins, ENABLED), {}, batch=3,
                                       policy=RetryPolicy(max_attempts=3), lease=timedelta(seconds=30))
                       for g in (running.gateway, second)]
            barrier = threading.Barrier(2)

            def work(runner: LifecycleRunner) -> None:
                barrier.wait()
                runner.run_until_done()

            threads = [threading.Thread(target=work, args=(r,)) for r in runners]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        finally:
            second.close()
    per_event = Counter(call["event_id"] for call in recorder.of("succeeded"))
    assert len(per_event) == len(payments) and set(per_event.values()) == {1}
    assert {call["payment"].id for call in recorder.of("succeeded")} == {payment_id(p) for p in payments}
