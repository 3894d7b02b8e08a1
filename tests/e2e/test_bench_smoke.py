"""`python -m bench --smoke` runs end to end: both servers, the table, the JSON. It never asserts a speed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.unit.test_bench_reconcile import assert_sane as assert_reconcile_sane
from tests.unit.test_bench_settlement import assert_sane

TIMEOUT = 240


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp, state
            members.append(int(entry))
    return members


def _settled_group(pgid: int, seconds: float = 5.0) -> list[int]:
    """Members still in the group once processes that were already exiting have had time to go."""
    deadline = time.monotonic() + seconds
    while (members := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return members


@pytest.mark.timeout(TIMEOUT + 60)
def test_smoke_prints_both_rows_and_a_ratio_and_writes_json(tmp_path: Path) -> None:
    # Its own process group, so that whatever it starts (servers, their workers, the clients) can be
    # found and ended even if the bench itself fails to clean up.
    # Every further part at a tiny size: a sweep of two points, scale-out, growth, notification ingestion, and
    # settlement at --smoke's size (2,000 payments, 20 merchants), reconciliation of a 2,000-line bill.
    parts = ["--sweep", "1,2", "--scale-out", "--growth", "50,100", "--notify", "--notify-payments", "40",
             "--settlement", "--reconcile"]
    bench = subprocess.Popen([sys.executable, "-m", "bench", "--smoke", *parts, "--output", str(tmp_path)],
                             cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        out, err = bench.communicate(timeout=TIMEOUT)
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGTERM)  # the bench stops its servers on SIGTERM
            try:
                bench.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        left = _settled_group(bench.pid)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        if bench.poll() is None:
            bench.kill()
            bench.communicate()
    assert bench.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert left == [], "the bench left processes behind"

    lines = out.splitlines()
    assert any(line.startswith("echo (bare grpcio)") for line in lines), out
    assert any(line.startswith("CreatePayment (") for line in lines), out
    assert any(line.startswith("ratio CreatePayment/echo: ") for line in lines), out
    assert any(line.startswith("GetPayment ") for line in lines), out
    assert any(line.startswith("ratio GetPayment/echo: ") for line in lines), out
    assert any(line.startswith("echo + RSA2 signature ") for line in lines), out
    assert any(line.startswith("RSA2 (SHA256withRSA, 2048-bit): ") for line in lines), out

    record = json.loads((tmp_path / "latest.json").read_text())
    assert {"echo", "gateway", "ratio", "channel", "settings", "machine", "started_at"} <= set(record)
    for row in ("echo", "echo_signed", "gateway", "get_payment"):
        assert {"calls_per_second", "p50_ms", "p95_ms", "p99_ms", "errors", "verdict"} <= set(record[row])
    assert record["echo_signed"]["errors"] == {}
    assert record["rsa2"]["processes"] == os.cpu_count() and record["rsa2"]["signatures_per_second"] > 0
    assert record["gateway"]["errors"] == {}
    # GetPayment read payments the CreatePayment window made, and every read found its payment.
    assert record["get_payment"]["calls_per_second"] > 0 and record["get_payment"]["errors"] == {}
    assert record["ratio_get_payment"] > 0
    assert record["channel"] not in ("", "?")
    assert len(list(tmp_path.glob("bench-*.json"))) == 1

    assert record["gateway_peak_rss_mb"] and all(mb > 0 for mb in record["gateway_peak_rss_mb"].values())
    assert [p["concurrency"] for p in record["sweep"]] == [1, 2]
    assert {"workers_1", "workers_2", "ratio_2_to_1", "cpu_efficiency_2_to_1"} <= set(record["scale_out"])
    assert record["scale_out"]["workers_2"]["calls_per_cpu_second"] > 0
    assert len(record["scale_out"]["workers_2"]["peak_rss_mb"]) == 2  # one figure per worker
    assert [row["stored"] >= size for row, size in zip(record["growth"], (50, 100))] == [True, True]
    notify = record["notify"]
    assert notify["gateway"]["errors"] == {} and notify["baseline"]["errors"] == {}
    # Every notification the gateway acknowledged moved a payment and wrote its event.
    assert notify["payments_succeeded"] == notify["events_written"] >= notify["gateway"]["ok"]
    assert_sane(record["settlement"], 2000, 20)
    assert_reconcile_sane(record["reconcile"], 2000)
    for heading in ("sweep (", "scale-out:", "growth:", "notification ingestion", "gateway peak RSS",
                    "settlement run for ", "hot/spread throughput at 2,000: ", "targets: ", "reconciliation of the ",
                    "planted differences found at 2,000 lines: "):
        assert any(line.startswith(heading) for line in lines), (heading, out)
    svg = (tmp_path / "latest.svg").read_text()
    assert svg.startswith("<svg") and "p99 latency" in svg and "echo (bare grpcio)" in svg
    assert len(list(tmp_path.glob("bench-*.svg"))) == 1
