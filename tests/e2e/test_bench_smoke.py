"""`python -m bench --smoke` runs end to end: both servers, the table, the JSON. It never asserts a speed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT

TIMEOUT = 90


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


def test_smoke_prints_both_rows_and_a_ratio_and_writes_json(tmp_path: Path) -> None:
    # Its own process group, so that whatever it starts (servers, their workers, the clients) can be
    # found and ended even if the bench itself fails to clean up.
    bench = subprocess.Popen([sys.executable, "-m", "bench", "--smoke", "--output", str(tmp_path)],
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

    record = json.loads((tmp_path / "latest.json").read_text())
    assert {"echo", "gateway", "ratio", "channel", "settings", "machine", "started_at"} <= set(record)
    for row in ("echo", "gateway"):
        assert {"calls_per_second", "p50_ms", "p95_ms", "p99_ms", "errors", "verdict"} <= set(record[row])
    assert record["gateway"]["errors"] == {}
    assert record["channel"] not in ("", "?")
    assert len(list(tmp_path.glob("bench-*.json"))) == 1
