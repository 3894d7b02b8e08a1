"""`python -m bench.settlement_run --config FILE --date YYYY-MM-DD`: the settlement run the bench measures, in a
process of its own (so that its peak RSS is the run's alone), built as `cashier settle run --date` builds it
(settlement/cli.py run_command): the configuration's payout rules and calendar, the gateway's unit of work
without group commit over a connection per payout thread (`[settlement] payout_concurrency`), the Alipay
payout rail from its plugin. Prints one JSON line.

The run's callbacks split its time: `on_merchants` comes once every release is booked and the merchants to
pay are listed; the last `on_progress` once every payout has an answer; what follows is the balance cache's
refresh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date

import channels.alipay_payouts
from bench import procstat
from gateway.config import load_settings
from gateway.plugins import collect_payout_rails, make_plugin_manager, start_plugins
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.service.run import MerchantResult, run


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.settlement_run")
    p.add_argument("--config", required=True)
    p.add_argument("--date", required=True, type=date.fromisoformat)
    args = p.parse_args(argv)
    settings = load_settings(args.config)  # the database from CASHIER_DATABASE_URL, as for `cashier`
    rules = settings.settlement.payout_rules  # with [settlement] payout_concurrency, merchants paid at once
    pm = make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_payouts])
    start_plugins(pm, settings.plugins)
    rails = collect_payout_rails(pm, settings.channels)
    if len(rails) != 1:
        print(f"need exactly one payout rail, got {[r.name for r in rails]}", file=sys.stderr)
        return 2
    rail = rails[0]
    engine = make_engine(settings.database.url, pool_size=rules.payout_concurrency)  # as the CLI sizes it
    try:
        migrate.upgrade(engine)  # as the CLI does; the fill migrated already, so this only checks
        uow = SqlUnitOfWorkFactory(engine, group_commit=False)
        marks: dict[str, float] = {}

        def on_merchants(count: int) -> None:
            marks["listed"] = time.perf_counter()

        def on_progress(result: MerchantResult) -> None:
            marks["paid"] = time.perf_counter()

        began = time.perf_counter()
        report = run(uow, rail, args.date, rules, calendar=settings.settlement.calendar(),
                     on_merchants=on_merchants, on_progress=on_progress)
        ended = time.perf_counter()
    finally:
        engine.dispose()
        close = getattr(rail, "close", None)
        if callable(close):
            close()
    listed = marks.get("listed", ended)
    paid = marks.get("paid", listed)
    states = Counter(m.state for m in report.merchants)
    print(json.dumps({
        "release_s": listed - began, "payouts_s": paid - listed, "refresh_s": ended - paid, "run_s": ended - began,
        "released_entries": report.released_entries, "released_fen": report.released_amount,
        "paid_fen": report.total("PAID"), "payouts_paid": states.get("PAID", 0), "states": dict(states),
        "release_skipped": report.release_skipped, "payout_concurrency": rules.payout_concurrency,
        "peak_rss_mb": procstat.peak_rss_mb(os.getpid()),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
