"""The recovery's decisions, with fake channels that subclass the StatusQuerier port and the real SQL unit
of work on a fresh SQLite file (the claim is SQL, so it is tested as SQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels.contract import (
    NOT_CREATED,
    ChannelResult,
    Outcome,
    Platform,
    Redirect,
    RouteRequest,
    Scenario,
    StatusQuerier,
)
from gateway.domain.flags import FlagKind
from gateway.domain.payments import ClientInfo, NewPayment, Payment, PaymentState
from gateway.service.flags import FlagService
from gateway.service.recovery import PaymentRecovery
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PAID = ChannelResult(Outcome.SUCCEEDED, "TRADE_SUCCESS", {"amount": "2590", "reference": "2026112522001"})


class FakeRail(StatusQuerier):
    """A channel that answers recovery from a script and remembers what it was asked."""

    name = "fake"
    display_name = "Fake rail"
    actions = ("redirect",)
    platforms = (Platform.PC_BROWSER,)
    scenarios = tuple(Scenario)

    def __init__(self) -> None:
        self.query_answer: ChannelResult | Exception = ChannelResult(Outcome.PENDING, "WAIT_BUYER_PAY")
        self.close_answer: ChannelResult = ChannelResult(Outcome.SUCCEEDED, "closed")
        self.calls: list[tuple[str, str]] = []

    def offer(self, request: RouteRequest) -> None:
        return None

    def prepare(self, payment: Payment) -> Redirect:
        return Redirect("https://rail.example/pay")

    def query(self, payment: Payment) -> ChannelResult:
        self.calls.append(("query", payment.id))
        if isinstance(self.query_answer, Exception):
            raise self.query_answer
        return self.query_answer

    def close_payment(self, payment: Payment) -> ChannelResult:
        self.calls.append(("close", payment.id))
        return self.close_answer


class Unaskable:
    """A channel without the StatusQuerier capability: its payments are never claimed."""

    name = "mute"
    display_name = "Mute"
    actions = ("redirect",)
    platforms = (Platform.PC_BROWSER,)
    scenarios = tuple(Scenario)

    def offer(self, request: RouteRequest) -> None:
        return None

    def prepare(self, payment: Payment) -> Redirect:
        return Redirect("https://rail.example/pay")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def uow(tmp_path: Path) -> Iterator[SqlUnitOfWorkFactory]:
    engine = make_engine(f"sqlite:///{tmp_path}/recovery.db", pool_size=2)
    migrate.upgrade(engine)
    yield SqlUnitOfWorkFactory(engine)
    engine.dispose()


@pytest.fixture
def rail() -> FakeRail:
    return FakeRail()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recovery(uow: SqlUnitOfWorkFactory, rail: FakeRail, clock: Clock) -> PaymentRecovery:
    return PaymentRecovery(uow, [rail, Unaskable()], clock, pending_age=timedelta(seconds=60), batch=10,
                      revisit=timedelta(seconds=60))


def add_payment(uow: SqlUnitOfWorkFactory, n: int = 1, channel: str = "fake", state: PaymentState = PaymentState.PENDING,
                expire_after: timedelta = timedelta(minutes=30)) -> Payment:
    new = NewPayment("shop-1", f"order-{channel}-{n}", 2590, "CNY", "Tea", ClientInfo(Platform.PC_BROWSER),
                     Scenario.OTHER, expire_after=expire_after)
    payment = Payment.create(payment_id=f"pay_{channel}{n:04d}", app_id="app-1", new=new, channel=channel, now=T0)
    if state is PaymentState.CLOSED:
        payment = payment.closed(T0)
    with uow(write=True) as w:
        assert w.payments.add(payment)
        w.commit()
    return payment


def stored(uow: SqlUnitOfWorkFactory, payment: Payment) -> Payment:
    with uow() as r:
        found = r.payments.get(payment.merchant_id, payment.id)
    assert found is not None
    return found


def event_types(uow: SqlUnitOfWorkFactory) -> list[str]:
    """The outbox: every state change recovery makes is written with its event."""
    with uow() as r:
        return [e.type for e in reversed(r.events.list(None, 100))]


def test_a_young_pending_payment_is_left_alone(uow, rail, clock, recovery) -> None:  # type: ignore[no-untyped-def]
    add_payment(uow)
    clock.now = T0 + timedelta(seconds=59)
    assert recovery.run().claimed == []
    assert rail.calls == []


def test_paid_at_the_channel_becomes_succeeded_once(uow, rail, clock, recovery) -> None:  # type: ignore[no-untyped-def]
    payment = add_payment(uow)
    rail.query_answer = PAID
    clock.now = T0 + timedelta(seconds=61)
    report = recovery.run()
    assert (report.claimed, report.queried, report.paid, report.pending) == ([payment.id], 1, 1, 0)
    after = stored(uow, payment)
    assert after.state is PaymentState.SUCCEEDED and after.channel_reference == "2026112522001"
    clock.now += timedelta(minutes=5)
    assert recovery.run().claimed == []  # paid: never asked again
    assert rail.calls == [("query", payment.id)]
    assert event_types(uow) == ["payment.succeeded"]


def test_a_different_amount_is_flagged_not_applied(uow, rail, clock, recovery, caplog) -> None:  # type: ignore[no-untyped-def]
    payment = add_payment(uow)
    rail.query_answer = ChannelResult(Outcome.SUCCEEDED, "TRADE_SUCCESS", {"amount": "1", "reference": "x"})
    clock.now = T0 + timedelta(seconds=61)
    with caplog.at_level(logging.ERROR):
        report = recovery.run()
    assert report.flagged == 1 and report.paid == 0
    assert stored(uow, payment).state is PaymentState.PENDING
    assert [(f.kind, f.payment_id, f.open) for f in FlagService(uow).list()] == [
        (FlagKind.AMOUNT_MISMATCH, payment.id, True)]
    clock.now += timedelta(minutes=5)
    assert recovery.run().claimed == []  # rests for an operator instead of being asked every minute


def test_still_waiting_is_asked_again_after_revisit(uow, rail, clock, recovery) -> None:  # type: ignore[no-untyped-def]
    payment = add_payment(uow)
    clock.now = T0 + timedelta(seconds=61)
    assert recovery.run().pending == 1
    assert recovery.run().claimed == []  # claimed until now + revisit
    clock.now += timedelta(seconds=60)
    rail.query_answer = ChannelResult(Outcome.UNKNOWN, "timeout")
    assert recovery.run().pending == 1
    assert stored(uow, payment).state is PaymentState.PENDING
    assert rail.calls == [("query", payment.id)] * 2


def test_closed_at_the_channel_is_closed_here(uow, rail, clock, recovery) -> None:  # type: ignore[no-untyped-def]
    payment = add_payment(uow)
    rail.query_answer = ChannelResult(Outcome.FAILED, "TRADE_CLOSED")
    clock.now = T0 + timedelta(seconds=61)
    assert recovery.run().closed == 1
    assert stored(uow, payment).state is PaymentState.CLOSED
    clock.now += timedelta(hours=1)
    assert recovery.run().claimed == []  # closed at the channel too: done
    assert event_types(uow) == ["payment.closed"]


def test_an_expired_payment_is_closed_at_the_channel_then_here(uow, rail, clock, recovery) -> None:  # type: ignore[no-untyped-def]
    payment = add_payment(uow, expire_after=timedelta(minutes=1))
    clock.now = T0 + timedelta(minutes=1)
    report = recovery.run()
    assert (report.closed, report.queried) == (1, 0)
    assert rail.calls == [("close", payment.id)]
    assert stored(uow, payment).state is PaymentState.CLOSED


def test_an_expired_payment_the_channel_will_not_close_because_it_was_paid(uow, rail, clock, recovery) -> None:  # type: ignore[no-untyped-def]
    payment = add_payment(uow, expire_after=timedelta(minutes=1))
    rail.close_answer = ChannelResult(Outcome.FAILED, "40004 ACQ.TRADE_STATUS_ERROR")
    rail.query_answer = PAID
    clock.now = T0 + timedelta(minutes=2)
    assert recovery.run().paid == 1
    assert rail.calls == [("close", payment.id), ("query", payment.id)]
    assert stored(uow, payment).state is PaymentState.SUCCEEDED


def test_closed_here_then_paid_there_is_recorded_and_flagged(uow, rail, clock, recovery, caplog) -> None:  # type: ignore[no-untyped-def]
    payment = add_payment(uow, state=PaymentState.CLOSED)
    rail.close_answer = ChannelResult(Outcome.FAILED, "40004 ACQ.TRADE_STATUS_ERROR")
    rail.query_answer = PAID
    results: list[tuple[str, str]] = []
    recovery.observe_result = lambda channel, result: results.append((channel, result))
    with caplog.at_level(logging.WARNING):
        assert recovery.run().paid == 1
    assert stored(uow, payment).state is PaymentState.SUCCEEDED
    assert [(f.kind, f.payment_id) for f in FlagService(uow).list()] == [(FlagKind.LATE_SUCCESS, payment.id)]
    assert results == [("fake", "late_success")]
    assert event_types(uow) == ["payment.succeeded"]


def test_closed_here_but_never_opened_there_waits_for_expiry(uow, rail, clock, recovery) -> None:  # type: ignore[no-untyped-def]
    payment = add_payment(uow, state=PaymentState.CLOSED, expire_after=timedelta(minutes=10))
    rail.close_answer = ChannelResult(Outcome.SUCCEEDED, NOT_CREATED)
    assert recovery.run().pending == 1  # the buyer could still open it there: look again later
    clock.now = T0 + timedelta(minutes=10)
    assert recovery.run().closed == 1
    clock.now += timedelta(hours=1)
    assert recovery.run().claimed == []
    assert rail.calls == [("close", payment.id)] * 2


def test_a_failing_channel_is_contained_and_the_batch_goes_on(uow, rail, clock, recovery, caplog) -> None:  # type: ignore[no-untyped-def]
    first = add_payment(uow, 1)
    add_payment(uow, 2, expire_after=timedelta(minutes=1))
    rail.query_answer = RuntimeError("rail down")
    clock.now = T0 + timedelta(minutes=2)
    with caplog.at_level(logging.ERROR):
        report = recovery.run()
    assert (report.pending, report.closed) == (1, 1)
    assert stored(uow, first).state is PaymentState.PENDING
    assert any(r.levelno == logging.ERROR and getattr(r, "channel", "") == "fake" for r in caplog.records)


def test_payments_of_channels_that_cannot_be_asked_are_not_claimed(uow, rail, clock, recovery) -> None:  # type: ignore[no-untyped-def]
    add_payment(uow, channel="mute", expire_after=timedelta(minutes=1))
    clock.now = T0 + timedelta(hours=1)
    assert recovery.run().claimed == []


def test_two_recoveries_never_claim_the_same_payment(uow, rail, clock) -> None:  # type: ignore[no-untyped-def]
    ids = {add_payment(uow, n).id for n in range(7)}
    clock.now = T0 + timedelta(seconds=61)
    one = PaymentRecovery(uow, [rail], clock, batch=3)
    two = PaymentRecovery(uow, [rail], clock, batch=3)
    first, second, third = one.run(), two.run(), one.run()
    claimed = first.claimed + second.claimed + third.claimed
    assert sorted(claimed) == sorted(ids)
    assert two.run().claimed == [] and one.run_until_done().claimed == []
