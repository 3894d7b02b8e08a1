"""`python -m bench.reconcile_run --config FILE --date YYYY-MM-DD BILL`: the reconciliation the bench measures, in
a process of its own (so that its peak RSS is the run's alone), done as `cashier reconcile statement BILL --date D
--kind trades` does it (settlement/cli.py statement_command): the statement source from its plugin, the file read
whole within the CLI's bound, its lines (the source's `read_file`) streamed into settlement/service/reconcile.py
`reconcile(..., lines=...)` on the gateway's unit of work without group commit over one connection. Prints one
JSON line.

`on_lines` marks the end of each staged batch: the last one ends the staging (reading, parsing and staging the
lines); what follows is `finish` (classify, count, book the fees and suspense, raise the flags).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import date

import channels.alipay_statements
from bench import procstat
from channels.contract.statements import StatementKind
from gateway.config import load_settings
from gateway.plugins import collect_statement_sources, make_plugin_manager, start_plugins
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.cli import MAX_FILE_BYTES
from settlement.domain.reconciliation import Bucket
from settlement.service.reconcile import reconcile


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.reconcile_run")
    p.add_argument("--config", required=True)
    p.add_argument("--date", required=True, type=date.fromisoformat)
    p.add_argument("bill")
    args = p.parse_args(argv)
    settings = load_settings(args.config)  # the database from CASHIER_DATABASE_URL, as for `cashier`
    pm = make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_statements])
    start_plugins(pm, settings.plugins)
    sources = collect_statement_sources(pm, settings.channels)
    if len(sources) != 1:
        print(f"need exactly one statement source, got {[s.name for s in sources]}", file=sys.stderr)
        return 2
    source = sources[0]
    engine = make_engine(settings.database.url, pool_size=1)
    try:
        migrate.upgrade(engine)  # as the CLI does; the fill migrated already, so this only checks
        uow = SqlUnitOfWorkFactory(engine, group_commit=False)
        marks: dict[str, float] = {}

        def on_lines(count: int) -> None:
            marks["staged"] = time.perf_counter()

        began = time.perf_counter()
        with open(args.bill, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        read = time.perf_counter()
        report = reconcile(uow, source, args.date, StatementKind.TRADES, settings.settlement.reconcile.options,
                           lines=source.read_file(data, StatementKind.TRADES), on_lines=on_lines)
        ended = time.perf_counter()
    finally:
        engine.dispose()
        close = getattr(source, "close", None)
        if callable(close):
            close()
    staged = marks.get("staged", read)
    print(json.dumps({
        "read_s": read - began, "stage_s": staged - read, "finish_s": ended - staged, "reconcile_s": ended - read,
        "file_bytes": len(data), "lines": report.lines, "statement_fen": report.statement_total,
        "buckets": {b.value: report.total(b).count for b in Bucket},
        "differences": sorted([d.bucket.value, d.reference] for d in report.differences),
        "fees_booked": report.fees_booked, "unexplained_fen": report.unexplained, "state": report.state,
        "peak_rss_mb": procstat.peak_rss_mb(os.getpid()),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
