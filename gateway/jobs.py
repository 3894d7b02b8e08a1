"""Background jobs: a job is a name, an interval and `run_once() -> report` (counts by name).

`cashier serve` runs every registered job on its own thread (JobRunner), each every `interval` seconds;
a job that raises is logged and counted, and tried again at its next turn: it never holds the others back.
Each one-shot CLI command (`cashier recover payments`, …) runs one job once (`run_job`). The jobs the
gateway registers are built in gateway/bootstrap.py (`background_jobs`); settlement adds its own there.

This module knows nothing of the gateway's adapters: what it reports to goes in as callables, so the
service layer may use its batching helper (`run_until_done`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger("cashier.jobs")

#: A job's report: what it did, counted by name (e.g. {"claimed": 3, "paid": 1}).
Report = Mapping[str, int]

R = TypeVar("R")

OK, ERROR = "ok", "error"  # the `outcome` label of cashier_job_runs_total


def _nothing_to_close() -> None:
    return None


@dataclass(frozen=True)
class Job:
    """`run_once` does one round of work and says what it did; `close` releases what the job holds (once
    the runner has stopped it)."""

    name: str
    interval: float  # seconds between the end of one run and the start of the next
    run_once: Callable[[], Report]
    close: Callable[[], None] = _nothing_to_close


def merge(total: R, report: R) -> R:
    """Add `report`'s fields to `total`'s (a dataclass of counts and lists): numbers add up, lists extend."""
    for f in dataclasses.fields(total):  # type: ignore[arg-type]
        setattr(total, f.name, getattr(total, f.name) + getattr(report, f.name))
    return total


def run_until_done(run: Callable[[], R], full: Callable[[R], bool], max_batches: int) -> R:
    """Run batches, merging their reports, until one is not `full` (nothing more is due) or `max_batches`
    have run (at least one runs); returns the merged report."""
    report = run()
    total = report  # the first report gathers the others'
    for _ in range(max_batches - 1):
        if not full(report):
            break
        report = run()
        merge(total, report)
    return total


def counts(report: Any) -> dict[str, int]:
    """A dataclass report as counts: numbers as they are, lists by their length."""
    return {f.name: (len(value) if isinstance(value := getattr(report, f.name), list) else int(value))
            for f in dataclasses.fields(report)}


def _ignore_run(_job: str, _outcome: str) -> None:
    return None


def _ignore_success(_job: str, _at: float) -> None:
    return None


def run_job(job: Job, observe_run: Callable[[str, str], None] = _ignore_run,
            observe_success: Callable[[str, float], None] = _ignore_success) -> Report:
    """Run `job` once: log its report (one JSON line: job name and counts) and count the run. Raises what
    the job raised, after logging and counting it."""
    started = time.monotonic()
    try:
        report = dict(job.run_once())
    except Exception:
        observe_run(job.name, ERROR)
        log.exception("job failed; it runs again at its next turn", extra={"job": job.name})
        raise
    observe_run(job.name, OK)
    observe_success(job.name, time.time())
    if any(report.values()):  # an idle round is not news
        log.info("job ran", extra={"job": job.name, "report": report,
                                    "seconds": round(time.monotonic() - started, 3)})
    return report


@dataclass
class JobRunner:
    """Runs each registered job on its own thread until `stop()`."""

    observe_run: Callable[[str, str], None] = _ignore_run
    observe_success: Callable[[str, float], None] = _ignore_success
    jobs: list[Job] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def register(self, *jobs: Job) -> JobRunner:
        names = {job.name for job in self.jobs}
        for job in jobs:
            if job.name in names:
                raise ValueError(f"a job named {job.name!r} is registered already")
            names.add(job.name)
            self.jobs.append(job)
        return self

    def start(self) -> None:
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=f"job-{job.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self, job: Job) -> None:
        try:
            while not self._stop.wait(job.interval):
                try:
                    run_job(job, self.observe_run, self.observe_success)
                except Exception:  # noqa: BLE001, S112 - logged and counted by run_job; the next turn retries
                    continue
        finally:
            try:
                job.close()
            except Exception:
                log.exception("closing a job failed", extra={"job": job.name})

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every job to stop at the end of its current run; wait up to `timeout` seconds for them."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def names(self) -> Iterable[str]:
        return [job.name for job in self.jobs]
