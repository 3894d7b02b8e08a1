"""Prometheus metrics: calls, errors and latency per RPC and per channel operation.

With several worker processes (`--workers N`), PROMETHEUS_MULTIPROC_DIR is set before the workers start
and /metrics aggregates every worker's numbers, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

disable_created_metrics()  # the _created series double the output and nobody graphs them
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.rpc_calls = Counter(
            "cashier_rpc_calls", "gRPC calls by method and status code", ["method", "code"],
            registry=self.registry)
        self.rpc_latency = Histogram(
            "cashier_rpc_latency_seconds", "gRPC call latency by method", ["method"],
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.channel_calls = Counter(
            "cashier_channel_calls", "Channel operations by channel, operation and outcome",
            ["channel", "operation", "outcome"], registry=self.registry)
        self.channel_latency = Histogram(
            "cashier_channel_latency_seconds", "Channel operation latency", ["channel", "operation"],
            buckets=LATENCY_BUCKETS, registry=self.registry)

        self.notifications = Counter(
            "cashier_notifications", "Channel notifications received, by channel and result",
            ["channel", "result"], registry=self.registry)

        self.recovered = Counter(
            "cashier_recovered", "Payments recovery looked at (lost notifications), by channel and result "
            "(paid, late_success, closed, pending, unknown, flagged, error)",
            ["channel", "result"], registry=self.registry)

        self.job_runs = Counter(
            "cashier_job_runs", "Background job runs (gateway/jobs.py) by job and outcome (ok, error)",
            ["job", "outcome"], registry=self.registry)
        # With several workers, the latest of theirs: each worker runs every job.
        self.job_last_success = Gauge(
            "cashier_job_last_success_timestamp_seconds", "When each background job last ran without error "
            "(Unix time)", ["job"], multiprocess_mode="max", registry=self.registry)

        self.webhooks = Counter(
            "cashier_webhooks", "Webhook delivery attempts by result (delivered, retry, parked)",
            ["result"], registry=self.registry)
        # Each label set's (counter, histogram) children, remembered: labels() takes a lock and rebuilds its
        # key on every call, and one dict lookup per observation is cheaper than one per metric. Label
        # values here come from a small fixed set.
        self._rpc_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._channel_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe_webhook(self, result: str) -> None:
        self.webhooks.labels(result).inc()

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        pair = self._rpc_children.get((method, code))
        if pair is None:
            pair = self._rpc_children.setdefault(
                (method, code), (self.rpc_calls.labels(method, code), self.rpc_latency.labels(method)))
        pair[0].inc()
        pair[1].observe(seconds)

    def observe_channel(self, channel: str, operation: str, outcome: str, seconds: float) -> None:
        # A CreatePayment records one of these per installed channel's offer and one for prepare.
        pair = self._channel_children.get((channel, operation, outcome))
        if pair is None:
            pair = self._channel_children.setdefault(
                (channel, operation, outcome),
                (self.channel_calls.labels(channel, operation, outcome),
                 self.channel_latency.labels(channel, operation)))
        pair[0].inc()
        pair[1].observe(seconds)

    def observe_recovered(self, channel: str, result: str) -> None:
        self.recovered.labels(channel, result).inc()

    def observe_job_run(self, job: str, outcome: str) -> None:
        self.job_runs.labels(job, outcome).inc()

    def observe_job_success(self, job: str, at: float) -> None:
        self.job_last_success.labels(job).set(at)

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
