"""Settlement's background jobs (gateway/jobs.py): the balance cache's refresh, and the one-shot backfill as a
job so that `cashier settle backfill` and a scheduler log and count it the same way."""

from __future__ import annotations

import dataclasses
from datetime import time

from gateway.jobs import Job, Report
from settlement.domain.calendar import DEFAULT_CUTOFF
from settlement.domain.fees import RefundFeePolicy
from settlement.service import ledger
from settlement.service.ports import SettlementUnitOfWorkFactory

BALANCES_EVERY = 3600.0  # seconds; the settlement run refreshes the balances it moves on its own


def backfill_job(uow: SettlementUnitOfWorkFactory, *, cutoff: time = DEFAULT_CUTOFF,
                 refund_policy: RefundFeePolicy = RefundFeePolicy.PRO_RATA) -> Job:
    def run_once() -> Report:
        return dataclasses.asdict(ledger.backfill(uow, cutoff=cutoff, refund_policy=refund_policy))

    return Job("settlement_backfill", BALANCES_EVERY, run_once)


def balances_job(uow: SettlementUnitOfWorkFactory, interval: float = BALANCES_EVERY) -> Job:
    def run_once() -> Report:
        return {"accounts": ledger.refresh_balances(uow)}

    return Job("settlement_balances", interval, run_once)
