"""`[settlement] payout_concurrency` against the Alipay sandbox in certificate mode, on SQLite and PostgreSQL, over
the unit of work `cashier settle run` builds (no group commit, a connection per payout thread): the run really
has that many transfers in flight at once (counted by wrapping the real rail, which pays), every merchant is
paid exactly once by the sandbox's own record, the report stays sorted and `on_progress` is called in the
calling thread; an earlier run's payout left UNKNOWN is settled, in the same pool, before its merchant's new
payout is decided."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import Engine

from channels.contract import PayoutRail, TransferAnswer, TransferRequest
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain.payouts import PayoutRules
from settlement.service.run import MerchantResult, run
from tests.e2e.alipay_world import World
from tests.e2e.test_settlement_run import (  # noqa: F401 - fixtures: the sandbox, its app, the rail
    NOW,
    TRANSFER,
    add_merchant,
    alipay_table,
    assert_balanced,
    balances,
    pay,
    rail,
    states,
    transferred,
    world,
)
from tests.settlement.storage_support import migrated_engine

WORKERS = 4
DAY = date(2026, 11, 30)


@dataclass
class InFlight:
    """The real rail, counting the calls in flight at once (transfers and queries) and logging each call's
    (kind, out_biz_no, start, end). Everything else (name, account, close) is the real rail's."""

    rail: PayoutRail
    lock: threading.Lock = field(default_factory=threading.Lock)
    now: int = 0
    most: int = 0
    calls: list[tuple[str, str, float, float]] = field(default_factory=list)

    def __getattr__(self, name: str):
        return getattr(self.rail, name)

    def transfer(self, request: TransferRequest) -> TransferAnswer:
        return self._counted("transfer", request.out_biz_no, lambda: self.rail.transfer(request))

    def query(self, out_biz_no: str) -> TransferAnswer:
        return self._counted("query", out_biz_no, lambda: self.rail.query(out_biz_no))

    def _counted(self, kind: str, out_biz_no: str, call):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        began = time.monotonic()
        try:
            return call()
        finally:
            with self.lock:
                self.now -= 1
                self.calls.append((kind, out_biz_no, began, time.monotonic()))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url, WORKERS) as engine:  # as `cashier settle run` sizes it
        yield engine


@pytest.fixture
def uow(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine, group_commit=False)  # the CLI's: SQLite writers on busy_timeout


def slow_transfers(sandbox: World, seconds: float) -> None:
    """Alipay pays every transfer at once and answers `seconds` later (below the rail's 1 s read timeout)."""
    sandbox.admin.post("/sandbox/faults", json={"timeout": {"method": TRANSFER, "count": -1, "seconds": seconds}})


def test_merchants_are_paid_four_at_once_and_each_exactly_once(world: World, rail: PayoutRail,  # noqa: F811
                                                               uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    shops = [add_merchant(world, engine, (date(2026, 1, 1), "T0")) for _ in range(12)]
    for n, shop in enumerate(shops):
        pay(uow, shop, 3_000 + n, 0, DAY)
    counted = InFlight(rail)
    progress: list[tuple[str, int]] = []

    def on_progress(result: MerchantResult) -> None:
        progress.append((result.merchant_id, threading.get_ident()))

    slow_transfers(world, 0.3)
    try:
        began = time.monotonic()
        report = run(uow, counted, DAY, PayoutRules(payout_concurrency=WORKERS),
                     now=lambda: NOW, on_progress=on_progress)
        took = time.monotonic() - began
    finally:
        world.admin.delete("/sandbox/faults")
    assert counted.most == WORKERS  # never more than the setting, and that many at once
    assert took < 12 * 0.3  # one after another, the answers' delay alone takes 3.6 s
    assert states(report) == {shop: "PAID" for shop in shops}
    assert [m.merchant_id for m in report.merchants] == sorted(shops) and report.resumed == []
    assert sorted(m for m, _ in progress) == sorted(shops)
    assert {thread for _, thread in progress} == {threading.get_ident()}
    for n, shop in enumerate(shops):
        assert [(fen, status) for _, fen, status in transferred(world, engine, shop)] == [(3_000 + n, "SUCCESS")]
        assert balances(uow, shop) == {"pending": 0, "available": 0, "payouts_in_transit": 0}
    again = run(uow, rail, DAY, PayoutRules(payout_concurrency=WORKERS), now=lambda: NOW)
    assert again.merchants == [] and again.resumed == []  # nothing open, nothing available: nothing to do
    assert all(len(transferred(world, engine, shop)) == 1 for shop in shops)
    assert_balanced(engine)


def test_an_earlier_unknown_payout_is_settled_before_its_merchants_next_one(
        world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory, engine: Engine) -> None:  # noqa: F811
    """Day 1's payout of `late` is left UNKNOWN (Alipay paid, its answer came too late); on day 2 `late` has
    new money too. The day-2 run, four at once, asks about day 1's transfer before deciding day 2's payout of
    the same merchant, and reports it as resumed."""
    late, *others = [add_merchant(world, engine, (date(2026, 1, 1), "T0")) for _ in range(6)]
    pay(uow, late, 5_000, 0, DAY)
    world.admin.post("/sandbox/faults", json={"timeout": {"method": TRANSFER, "count": 1, "seconds": 2}})
    try:
        first = run(uow, rail, DAY, PayoutRules(payout_concurrency=WORKERS), now=lambda: NOW)
    finally:
        world.admin.delete("/sandbox/faults")
    assert states(first) == {late: "UNKNOWN"}
    next_day = date(2026, 12, 1)
    pay(uow, late, 700, 0, next_day)
    for n, shop in enumerate(others):
        pay(uow, shop, 4_000 + n, 0, next_day)
    counted = InFlight(rail)
    slow_transfers(world, 0.2)
    try:
        report = run(uow, counted, next_day, PayoutRules(payout_concurrency=WORKERS),
                     now=lambda: NOW)
    finally:
        world.admin.delete("/sandbox/faults")
    assert [(m.merchant_id, m.state) for m in report.resumed] == [(late, "PAID")]
    assert [m.merchant_id for m in report.merchants] == sorted([late, *others])
    assert set(states(report).values()) == {"PAID"}
    (day_1, _, _), (day_2, _, _) = sorted(transferred(world, engine, late), key=lambda t: t[1] == 700)
    asked = [end for kind, ref, _, end in counted.calls if kind == "query" and ref == day_1]
    sent = [start for kind, ref, start, _ in counted.calls if kind == "transfer" and ref == day_2]
    assert len(asked) == 1 and len(sent) == 1 and asked[0] <= sent[0]
    assert not any(kind == "transfer" and ref == day_1 for kind, ref, _, _ in counted.calls)  # never sent again
    assert sorted((fen, status) for _, fen, status in transferred(world, engine, late)) == [
        (700, "SUCCESS"), (5_000, "SUCCESS")]
    for n, shop in enumerate(others):
        assert [(fen, status) for _, fen, status in transferred(world, engine, shop)] == [(4_000 + n, "SUCCESS")]
    assert counted.most > 1
    assert balances(uow, late) == {"pending": 0, "available": 0, "payouts_in_transit": 0}
    assert_balanced(engine)
