"""Settlement's bookings on the live paths (issue 18, items 1 and 2), over the real wire: a gateway with the Alipay
sandbox, payments paid by the sandbox's signed notifications, refunds over gRPC, and the operator's `cashier
settle` commands, on SQLite and PostgreSQL. A payment's success books its amount and its fee, and a refund its
amount and the fee's share, in the transaction of the change itself: never twice, never without the change,
every entry balanced, and exactly what `cashier settle backfill` would have booked."""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import text

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import refund_pb2 as rpb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.bootstrap import bootstrap
from gateway.config import ConfigError
from gateway.domain.merchants import Principal, PrincipalKind
from gateway.domain.refunds import NewRefund
from gateway.runtime import RunningGateway
from gateway.service.refunds import RefundPayment, RefundService
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain.calendar import settlement_day
from settlement.service.run import release_due
from tests.e2e.test_concurrency import run_together
from tests.e2e.test_payment_completion import _last_body, pay_at_alipay, wait_for_state
from tests.e2e.test_refunds import get_payment, paid_payment, refund
from tests.support import CashierClient, cashier_cli, make_settings, running_gateway, seed_tenant

RATE = 60  # bps on the mobile channel: 0.60 %
CLEARING, REVENUE = "platform:channel_clearing", "platform:fee_revenue"
PENDING = "merchant:shop-1:pending"
AVAILABLE = "merchant:shop-1:available"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def settings(database_url: str, alipay: LocalAlipay, **settlement: Any) -> Any:
    return make_settings(database_url, channels={"alipay": alipay.channel_table},
                         settlement={"fees": {"mobile": RATE}, **settlement})


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with running_gateway(settings(database_url, alipay), housekeeping=False) as running:
        yield running


# --- reading the ledger as an auditor would: straight from its tables ------------------------------------------

def query(gateway: RunningGateway, sql: str, **params: Any) -> list[Any]:
    with gateway.gateway.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def booked(gateway: RunningGateway, reference: str) -> dict[str, list[tuple[str, int]]]:
    """The entries caused by `reference` (a payment or refund id): kind → its postings, in line order."""
    rows = query(gateway, "SELECT e.kind, p.account, p.amount FROM ledger_entries e JOIN ledger_postings p "
                          "ON p.merchant_id = e.merchant_id AND p.entry_id = e.entry_id "
                          "WHERE e.reference = :reference ORDER BY e.entry_id, p.line", reference=reference)
    entries: dict[str, list[tuple[str, int]]] = {}
    for kind, account, amount in rows:
        entries.setdefault(kind, []).append((account, int(amount)))
    return entries


def entry_count(gateway: RunningGateway) -> int:
    return int(query(gateway, "SELECT COUNT(*) FROM ledger_entries")[0][0])


def unbalanced(gateway: RunningGateway) -> list[Any]:
    return query(gateway, "SELECT entry_id FROM ledger_postings GROUP BY entry_id HAVING SUM(amount) <> 0")


def account_sums(gateway: RunningGateway) -> dict[str, int]:
    return {account: int(total) for account, total in query(
        gateway, "SELECT account, SUM(amount) FROM ledger_postings GROUP BY account")}


def payment_id(payment: pb.Payment) -> str:
    return payment.name.rsplit("/", 1)[1]


def fee_bps(gateway: RunningGateway, pid: str) -> int | None:
    return query(gateway, "SELECT fee_bps FROM payments WHERE payment_id = :p", p=pid)[0][0]


def succeeded_events(gateway: RunningGateway, pid: str) -> int:
    return int(query(gateway, "SELECT COUNT(*) FROM events WHERE payment_id = :p AND type = 'payment.succeeded'",
                     p=pid)[0][0])


def the_operator_finds_the_ledger_whole(gateway: RunningGateway) -> None:
    """What an operator runs: a backfill after live bookings adds nothing (and finds nothing booked otherwise
    than it would book), and the balances cached from the postings are proven against them."""
    url = str(gateway.gateway.settings.database.url)
    before = entry_count(gateway)
    backfill = cashier_cli("settle", "backfill", database_url=url).stdout
    assert backfill == "booked 0 payments, 0 fees, 0 refunds, 0 fees returned, 0 deposits\n"
    assert entry_count(gateway) == before
    cashier_cli("settle", "balances", database_url=url)
    assert "balances agree" in cashier_cli("settle", "balances", "--check", database_url=url).stdout
    assert unbalanced(gateway) == []


# --- payments ----------------------------------------------------------------------------------------------------

def test_a_paid_payment_books_its_amount_and_fee_once(app: CashierClient, alipay: LocalAlipay,
                                                      gateway: RunningGateway) -> None:
    payment = app.create(amount=4_250)
    pid = payment_id(payment)
    assert booked(gateway, pid) == {} and fee_bps(gateway, pid) is None  # nothing until it is paid
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    paid = wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED)
    assert paid.state == pb.PAYMENT_STATE_SUCCEEDED
    # 4,250 fen at 60 bps is 25.5 fen, rounded half up to 26 (settlement/domain/fees.py).
    assert booked(gateway, pid) == {
        "payment_succeeded": [(CLEARING, 4_250), (PENDING, -4_250)],
        "fee": [(PENDING, 26), (REVENUE, -26)],
    }
    assert fee_bps(gateway, pid) == RATE
    # The entries belong to the day the payment succeeded on (China time, cut-off 00:00).
    paid_at = paid.paid_time.ToDatetime(tzinfo=UTC)
    days = {row[0] for row in query(gateway, "SELECT settlement_day FROM ledger_entries WHERE reference = :p", p=pid)}
    assert {str(day)[:10] for day in days} == {settlement_day(paid_at).isoformat()}

    # Alipay sends the same notification again (20 times): the payment and its booking stay as they were.
    body = _last_body(alipay)
    for _ in range(20):
        answer = httpx.post(f"{gateway.http_url}/notify/mobile/{app.tenant.merchant_id}", content=body, headers=FORM)
        assert (answer.status_code, answer.text) == (200, "success")
    assert entry_count(gateway) == 2 and succeeded_events(gateway, pid) == 1
    assert get_payment(app, payment.name) == paid
    the_operator_finds_the_ledger_whole(gateway)


def test_a_notification_whose_transaction_fails_leaves_no_change_and_no_posting(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    payment = app.create(amount=1_000)
    pid = payment_id(payment)
    # Plant an entry that contradicts the booking the payment's success will make (another amount under the
    # same identity): appending it raises inside the notification's transaction, after the payment's UPDATE.
    with gateway.gateway.engine.begin() as conn:
        entry_id = conn.execute(text(
            "INSERT INTO ledger_entries (merchant_id, kind, reference, settlement_day, created_at) "
            "VALUES ('shop-1', 'payment_succeeded', :p, '2026-01-01', CURRENT_TIMESTAMP) RETURNING entry_id"),
            {"p": pid}).scalar_one()
        conn.execute(text("INSERT INTO ledger_postings (merchant_id, entry_id, line, account, amount) VALUES "
                          "('shop-1', :e, 0, :clearing, 1), ('shop-1', :e, 1, :pending, -1)"),
                     {"e": entry_id, "clearing": CLEARING, "pending": PENDING})
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    metrics = re.compile(r'cashier_notifications_total\{channel="mobile",result="conflicting_entry"\} ([1-9])')
    deadline = time.monotonic() + 15
    while not metrics.search(httpx.get(f"{gateway.http_url}/metrics").text):
        assert time.monotonic() < deadline, "the notification was never refused"
        time.sleep(0.05)
    # Refused, so Alipay keeps sending it; and nothing of the transaction stayed: state, rate, fee, event.
    assert get_payment(app, payment.name).state == pb.PAYMENT_STATE_PENDING
    assert fee_bps(gateway, pid) is None and succeeded_events(gateway, pid) == 0
    assert booked(gateway, pid) == {"payment_succeeded": [(CLEARING, 1), (PENDING, -1)]}  # only the plant

    # The operator removes the bad entry; the next delivery applies the payment and books it, once.
    with gateway.gateway.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_postings WHERE entry_id = :e"), {"e": entry_id})
        conn.execute(text("DELETE FROM ledger_entries WHERE entry_id = :e"), {"e": entry_id})
    answer = httpx.post(f"{gateway.http_url}/notify/mobile/{app.tenant.merchant_id}", content=_last_body(alipay),
                        headers=FORM)
    assert (answer.status_code, answer.text) == (200, "success")
    assert get_payment(app, payment.name).state == pb.PAYMENT_STATE_SUCCEEDED
    assert booked(gateway, pid) == {"payment_succeeded": [(CLEARING, 1_000), (PENDING, -1_000)],
                                    "fee": [(PENDING, 6), (REVENUE, -6)]}
    assert succeeded_events(gateway, pid) == 1
    the_operator_finds_the_ledger_whole(gateway)


def test_two_hundred_identical_notifications_at_once_book_one_payment(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    # Alipay holds its own delivery back, so that all 200 copies race for the first application.
    alipay_admin = httpx.Client(base_url=alipay.url)
    alipay_admin.post("/sandbox/faults", json={"delay_notifications": 60}).raise_for_status()
    payment = app.create(amount=9_999)
    pid = payment_id(payment)
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    body = _last_body(alipay)
    url = f"{gateway.http_url}/notify/mobile/{app.tenant.merchant_id}"
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
        answers = run_together([lambda: client.post(url, content=body, headers=FORM)] * 200)
    assert {(a.status_code, a.text) for a in answers} == {(200, "success")}
    # 9,999 fen at 60 bps is 59.994 fen: 60.
    assert booked(gateway, pid) == {"payment_succeeded": [(CLEARING, 9_999), (PENDING, -9_999)],
                                    "fee": [(PENDING, 60), (REVENUE, -60)]}
    assert entry_count(gateway) == 2 and succeeded_events(gateway, pid) == 1
    alipay_admin.delete("/sandbox/faults").raise_for_status()
    alipay_admin.close()
    the_operator_finds_the_ledger_whole(gateway)


def test_a_payment_closed_here_and_paid_at_alipay_is_booked_with_its_flag(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    payment = app.create(amount=2_000)
    pid = payment_id(payment)
    app.stub.ClosePayment(svc.ClosePaymentRequest(name=payment.name), metadata=app.metadata())
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    assert wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED
    assert [f.kind.value for f in gateway.gateway.flags.list()] == ["LATE_SUCCESS"]
    assert booked(gateway, pid) == {"payment_succeeded": [(CLEARING, 2_000), (PENDING, -2_000)],
                                    "fee": [(PENDING, 12), (REVENUE, -12)]}
    the_operator_finds_the_ledger_whole(gateway)


# --- refunds -----------------------------------------------------------------------------------------------------

def test_a_partial_then_a_full_refund_give_the_fee_back_pro_rata(app: CashierClient, alipay: LocalAlipay,
                                                                 gateway: RunningGateway) -> None:
    payment = paid_payment(app, alipay, 1_000)  # fee: 1,000 × 60 bps = 6 fen
    first = refund(app, payment, "R-1", 250)
    assert first.state == rpb.REFUND_STATE_SUCCEEDED
    # A quarter refunded: 6 × 250 / 1,000 = 1.5 fen of the fee, rounded half up on the cumulative amount: 2.
    assert booked(gateway, first.name.rsplit("/", 1)[1]) == {
        "refund_succeeded": [(PENDING, 250), (CLEARING, -250)],
        "fee_returned": [(REVENUE, 2), (PENDING, -2)],
    }
    rest = refund(app, payment, "R-2", 750)
    assert get_payment(app, payment.name).state == pb.PAYMENT_STATE_REFUNDED
    # The rest gives back what is left of the fee (6 − 2), so a full refund returns exactly the fee.
    assert booked(gateway, rest.name.rsplit("/", 1)[1]) == {
        "refund_succeeded": [(PENDING, 750), (CLEARING, -750)],
        "fee_returned": [(REVENUE, 4), (PENDING, -4)],
    }
    # Refunded in full with its fee given back: the merchant, the platform and Alipay's clearing are square.
    assert account_sums(gateway) == {CLEARING: 0, PENDING: 0, REVENUE: 0}
    the_operator_finds_the_ledger_whole(gateway)


def test_a_refund_after_its_payment_was_released_comes_out_of_available(app: CashierClient, alipay: LocalAlipay,
                                                                       gateway: RunningGateway) -> None:
    # Defect (session 6): every refund came out of pending, booked on its own day; a refund of money already
    # released (or paid out) then waited for its own day's release, 15 days under T+15, while the merchant
    # went on being paid, instead of being netted from the next payout.
    payment = paid_payment(app, alipay, 1_000)
    day = query(gateway, "SELECT settlement_day FROM ledger_entries WHERE kind = 'payment_succeeded' "
                         "AND reference = :p", p=payment_id(payment))[0][0]
    day = day if isinstance(day, date) else date.fromisoformat(str(day))
    released, amount = release_due(SqlUnitOfWorkFactory(gateway.gateway.engine), day + timedelta(days=15))
    assert (released, amount) == (1, 994)  # the payment less its 6 fen fee, now available
    first = refund(app, payment, "R-1", 250)
    assert booked(gateway, first.name.rsplit("/", 1)[1]) == {
        "refund_succeeded": [(AVAILABLE, 250), (CLEARING, -250)],
        "fee_returned": [(REVENUE, 2), (AVAILABLE, -2)],
    }
    assert account_sums(gateway)[AVAILABLE] == -(994 - 248)  # owed: 746 fen, paid by the next payout
    the_operator_finds_the_ledger_whole(gateway)


def test_concurrent_partial_refunds_give_back_exactly_the_fee_and_match_the_backfill(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    payment = paid_payment(app, alipay, 1_001)  # fee: 1,001 × 60 bps = 6.006 → 6 fen
    refunds = run_together([lambda n=n: refund(app, payment, f"RACE-{n}", 91) for n in range(11)])
    assert all(not isinstance(r, grpc.RpcError) and r.state == rpb.REFUND_STATE_SUCCEEDED for r in refunds), refunds
    shares = [dict(booked(gateway, r.name.rsplit("/", 1)[1]).get("fee_returned", [])).get(REVENUE, 0)
              for r in refunds]
    # Every fen of the fee came back, none twice, whichever order the refunds took the payment's lock in.
    assert sum(shares) == 6 and min(shares) >= 0
    assert account_sums(gateway) == {CLEARING: 0, PENDING: 0, REVENUE: 0}
    # The backfill orders a payment's refunds by the time they succeeded: it finds each share as booked.
    the_operator_finds_the_ledger_whole(gateway)


def test_refunds_stamped_by_a_clock_that_went_back_still_match_the_backfill(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    """Two gateway processes on hosts whose clocks disagree: the second refund of a payment is recorded by a
    clock a second behind the first's. The fee share is read in the order the refunds took the payment's lock;
    the backfill orders them by their times, so a refund is stamped after the payment's last change."""
    payment = paid_payment(app, alipay, 1_000)  # fee 6
    pid, merchant = payment_id(payment), app.tenant.merchant_id
    start, ticks = datetime.now(UTC), itertools.count()
    service = RefundService(gateway.gateway.payments.uow, gateway.gateway.directory,
                            clock=lambda: start - timedelta(seconds=next(ticks)))
    principal = Principal(PrincipalKind.APP, app.tenant.app_id, frozenset({merchant}))
    first = service.refund(RefundPayment(principal, NewRefund(merchant, pid, "SKEW-1", 100)))
    second = service.refund(RefundPayment(principal, NewRefund(merchant, pid, "SKEW-2", 300)))
    # In lock order: 100 of 1,000 gives back round(0.6) = 1; then 400 gives back round(2.4) = 2, so 1 more.
    # (Taken the other way round, 300 would give back 2 and the 100 after it none.)
    assert [booked(gateway, r.id)["fee_returned"] for r in (first, second)] == [[(REVENUE, 1), (PENDING, -1)]] * 2
    the_operator_finds_the_ledger_whole(gateway)
    assert second.updated_at > first.updated_at


def test_a_refund_keeps_the_fee_when_configured_so(database_url: str, alipay: LocalAlipay, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with running_gateway(settings(database_url, alipay, refund_fee="kept"), housekeeping=False) as running, \
            grpc.insecure_channel(running.grpc_target) as channel:
        app = CashierClient(channel, seed_tenant(running.gateway))
        payment = paid_payment(app, alipay, 1_000)
        done = refund(app, payment, "R-1", 1_000)
        assert booked(running, done.name.rsplit("/", 1)[1]) == {
            "refund_succeeded": [(PENDING, 1_000), (CLEARING, -1_000)]}
        # The buyer has every fen back; the platform keeps its 6 fen, which the merchant owes.
        assert account_sums(running) == {CLEARING: 0, PENDING: 6, REVENUE: -6}
        # The backfill takes the policy from the same configuration as the gateway: it finds all booked.
        config = tmp_path / "cashier.toml"
        config.write_text('[settlement]\nrefund_fee = "kept"\n\n[settlement.fees]\nmobile = 60\n')
        url = str(running.gateway.settings.database.url)
        backfill = cashier_cli("settle", "backfill", database_url=url, extra_env={"CASHIER_CONFIG": str(config)})
        assert backfill.stdout == "booked 0 payments, 0 fees, 0 refunds, 0 fees returned, 0 deposits\n"


# --- start-up ----------------------------------------------------------------------------------------------------

def test_fees_that_leave_out_a_loaded_channel_stop_start_up(database_url: str, alipay: LocalAlipay,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    bad = make_settings(database_url, channels={"alipay": alipay.channel_table}, settlement={"fees": {"pc": 30}})
    with pytest.raises(ConfigError, match=r"no rate for channel\(s\) mobile"):
        bootstrap(bad, run_migrations=False)


def test_without_fees_every_channel_is_free_and_start_up_says_so(
        alipay: LocalAlipay, database_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with caplog.at_level(logging.WARNING, logger="cashier.config"):
        free = bootstrap(make_settings(database_url, channels={"alipay": alipay.channel_table}), run_migrations=False)
    try:
        assert "no [settlement.fees]" in caplog.text and "mobile" in caplog.text
        assert free.payments.fees is not None and free.payments.fees.rate_for("mobile") == 0
    finally:
        free.close()
