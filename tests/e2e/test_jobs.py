"""Background jobs (gateway/jobs.py) in a real gateway: every registered job runs on its own, a failing one
is logged and counted and holds no other back, and what they did is read where an operator reads it: the
gateway's /metrics over HTTP and its JSON log lines. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.jobs import Job
from gateway.logs import JsonFormatter
from tests.support import cashier_cli, make_settings, running_gateway

STANDARD_JOBS = {"recover-payments", "recover-refunds", "webhooks", "hooks"}  # the purges run hourly


def scrape(http_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """/metrics as {(sample name, labels): value}."""
    text = httpx.get(f"{http_url}/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def runs(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], job: str, outcome: str) -> float:
    return samples.get(("cashier_job_runs_total", frozenset({("job", job), ("outcome", outcome)})), 0.0)


def last_success(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], job: str) -> float | None:
    return samples.get(("cashier_job_last_success_timestamp_seconds", frozenset({("job", job)})))


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the jobs did not run in time"
        time.sleep(0.2)


def test_a_failing_job_is_counted_and_holds_no_other_back(database_url: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    steady_runs: list[float] = []
    closed = threading.Event()

    def boom() -> dict[str, int]:
        raise RuntimeError("this job always fails")

    def steady() -> dict[str, int]:
        steady_runs.append(time.time())
        return {"ran": 1}

    settings = make_settings(database_url, recovery={"every_seconds": 0.2}, webhooks={"every_seconds": 0.2},
                             hooks={"every_seconds": 0.2})
    started = time.time()
    with caplog.at_level(logging.INFO, logger="cashier.jobs"), running_gateway(
            settings, housekeeping=True, jobs=[Job("boom", 0.1, boom), Job("steady", 0.1, steady, closed.set)],
    ) as running:
        def enough() -> bool:
            samples = scrape(running.http_url)
            return (runs(samples, "boom", "error") >= 3 and runs(samples, "steady", "ok") >= 3
                    and all(runs(samples, job, "ok") >= 1 for job in STANDARD_JOBS))

        wait_for(enough)
        samples = scrape(running.http_url)
        assert closed.is_set() is False  # running jobs are not closed

    # The failing job failed every time, the others went on: each is counted under its own name.
    assert runs(samples, "boom", "ok") == 0
    assert runs(samples, "steady", "error") == 0
    assert all(runs(samples, job, "error") == 0 for job in STANDARD_JOBS)
    # Last success: set for the jobs that succeeded, within this test; never for the one that always fails.
    assert last_success(samples, "boom") is None
    for job in ("steady", *STANDARD_JOBS):
        at = last_success(samples, job)
        assert at is not None and started - 1 <= at <= time.time() + 1, job
    assert closed.is_set()  # stopping the gateway closed its jobs

    # One JSON line per run that did something (job name and report), one per failure (with the traceback).
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "cashier.jobs"]
    assert {"job": "steady", "report": {"ran": 1}} in [{k: line.get(k) for k in ("job", "report")}
                                                      for line in lines]
    failures = [line for line in lines if line.get("job") == "boom"]
    assert failures and all(line["level"] == "ERROR" and "this job always fails" in line["exc"] for line in failures)


def test_a_one_shot_command_runs_its_job_once(database_url: str) -> None:
    out = cashier_cli("recover", "refunds", database_url=database_url, extra_env={"CASHIER_LOAD_CHANNELS": ""})
    assert out.stdout.strip() == "refunds: 0 succeeded, 0 failed, 0 still pending"
    assert out.stderr == ""


def test_the_old_command_names_still_work_and_say_what_replaces_them(database_url: str) -> None:
    refunds = cashier_cli("reconcile-refunds", database_url=database_url, extra_env={"CASHIER_LOAD_CHANNELS": ""})
    assert refunds.stdout.strip() == "refunds: 0 succeeded, 0 failed, 0 still pending"
    assert "`cashier reconcile-refunds` is deprecated" in refunds.stderr
    assert "use `cashier recover refunds`" in refunds.stderr
    payments = cashier_cli("reconcile-pending", database_url=database_url, extra_env={"CASHIER_LOAD_CHANNELS": ""})
    assert payments.stdout.startswith("recovered payments: claimed 0,")
    assert "use `cashier recover payments`" in payments.stderr
