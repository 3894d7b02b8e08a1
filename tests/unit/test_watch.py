"""The watch loop without a transport: what it yields, when it ends, and the per-process cap."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.domain.errors import NotFound, ResourceExhausted
from gateway.domain.merchants import Principal, PrincipalKind
from gateway.domain.payments import ClientInfo, NewPayment, Payment, PaymentState, Platform, Scenario
from gateway.service.watch import WatchPayment, WatchService, watch_ends

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
APP = Principal(PrincipalKind.APP, "app-1", frozenset({"shop-1"}))
CMD = WatchPayment(APP, "shop-1", "pay_1")


def pending() -> Payment:
    new = NewPayment("shop-1", "order-1", 1000, "CNY", "Tea", ClientInfo(Platform.IOS_APP), Scenario.OTHER)
    return Payment.create(payment_id="pay_1", app_id="app-1", new=new, channel="mobile", now=NOW)


class Reads:
    """Stands in for PaymentService.get: answers the given payments in turn, then the last one forever."""

    def __init__(self, *answers: Payment | Exception):
        self.answers = list(answers)
        self.calls = 0

    def get(self, principal: Principal, merchant_id: str, payment_id: str) -> Payment:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def service(reads: Reads, **kwargs: Any) -> WatchService:
    return WatchService(reads, poll_seconds=0.001, **kwargs)  # type: ignore[arg-type]


def test_each_change_of_state_or_refunded_amount_is_one_message_until_refunded() -> None:
    p = pending()
    paid = p.paid(NOW, "t-1")
    partly = paid.refund_reserved_for(300).refund_settled(300, NOW)
    reserved_only = partly.refund_reserved_for(700)  # nothing a watcher is told about
    refunded = reserved_only.refund_settled(700, NOW)
    reads = Reads(p, p, paid, paid, partly, reserved_only, refunded)
    seen = list(service(reads).watch(replace(CMD, follow_refunds=True)))
    assert [(s.state, s.refunded_amount) for s in seen] == [
        (PaymentState.PENDING, 0), (PaymentState.SUCCEEDED, 0), (PaymentState.PARTIALLY_REFUNDED, 300),
        (PaymentState.REFUNDED, 1000)]


def test_without_follow_refunds_the_watch_ends_when_the_payment_leaves_pending() -> None:
    p = pending()
    assert [s.state for s in service(Reads(p, p.paid(NOW, "t"))).watch(CMD)] == [
        PaymentState.PENDING, PaymentState.SUCCEEDED]
    assert [s.state for s in service(Reads(p.closed(NOW))).watch(CMD)] == [PaymentState.CLOSED]


@pytest.mark.parametrize(("state", "follow", "ends"), [
    (PaymentState.PENDING, False, False), (PaymentState.PENDING, True, False),
    (PaymentState.SUCCEEDED, False, True), (PaymentState.SUCCEEDED, True, False),
    (PaymentState.PARTIALLY_REFUNDED, True, False), (PaymentState.REFUNDED, True, True),
    (PaymentState.CLOSED, True, True), (PaymentState.FAILED, True, True),
])
def test_when_a_watch_ends(state: PaymentState, follow: bool, ends: bool) -> None:
    assert watch_ends(state, follow) is ends


def test_the_watch_ends_after_its_maximum_duration() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    reads = Reads(pending())
    assert [s.state for s in service(reads, max_seconds=5, clock=clock).watch(CMD)] == [PaymentState.PENDING]
    assert 1 < reads.calls < 10


def test_stop_ends_the_watch_and_frees_its_place() -> None:
    watches = service(Reads(pending()), max_streams=1)
    stop = threading.Event()
    stream = watches.watch(CMD, stop)
    next(stream)
    assert watches.active == 1
    stop.set()
    assert list(stream) == []
    assert watches.active == 0


def test_beyond_the_cap_a_watch_is_refused_until_one_leaves() -> None:
    watches = service(Reads(pending()), max_streams=2)
    held = [watches.watch(CMD) for _ in range(2)]
    for stream in held:
        next(stream)
    with pytest.raises(ResourceExhausted) as err:
        next(watches.watch(CMD))
    assert err.value.reason == "TOO_MANY_WATCHES" and err.value.metadata == {"limit": "2"}
    held[0].close()  # the transport drops a stream whose client left
    assert next(watches.watch(CMD)).state is PaymentState.PENDING
    with pytest.raises(ResourceExhausted):
        next(service(Reads(pending()), max_streams=0).watch(CMD))


def test_errors_of_the_read_come_through_and_take_no_place() -> None:
    watches = service(Reads(NotFound("no such payment")), max_streams=1)
    with pytest.raises(NotFound):
        next(watches.watch(CMD))
    assert watches.active == 0


def test_closing_ends_open_watches_and_later_ones_after_their_first_message() -> None:
    watches = service(Reads(pending()))
    stream = watches.watch(CMD)
    next(stream)
    watches.close()
    assert list(stream) == []
    assert [s.state for s in watches.watch(CMD)] == [PaymentState.PENDING]
