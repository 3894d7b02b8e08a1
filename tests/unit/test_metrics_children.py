"""Metrics remember each label set's (counter, histogram) children (issue 20: a CreatePayment observes once
per installed channel's offer): the numbers exported are what labels().inc()/observe() gave."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from gateway.metrics import Metrics


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in registry.collect() for s in metric.samples}


def test_observations_export_as_labels_did() -> None:
    observed = [("mobile", "offer", "ok", 0.0004), ("pc", "offer", "ok", 0.002), ("mobile", "offer", "ok", 0.03),
                ("mobile", "prepare", "error", 0.7), ("mobile", "prepare", "ok", 0.0009)]
    rpcs = [("CreatePayment", "OK", 0.004), ("CreatePayment", "OK", 0.2), ("CreatePayment", "ALREADY_EXISTS", 0.001),
            ("GetPayment", "OK", 0.0001)]
    ours = Metrics()
    for args in observed:
        ours.observe_channel(*args)
    for rpc in rpcs:
        ours.observe_rpc(*rpc)

    plain = Metrics()
    for channel, operation, outcome, seconds in observed:
        plain.channel_calls.labels(channel, operation, outcome).inc()
        plain.channel_latency.labels(channel, operation).observe(seconds)
    for method, code, seconds in rpcs:
        plain.rpc_calls.labels(method, code).inc()
        plain.rpc_latency.labels(method).observe(seconds)

    assert _samples(ours.registry) == _samples(plain.registry)
    assert _samples(ours.registry)[("cashier_channel_calls_total",
                                    (("channel", "mobile"), ("operation", "offer"), ("outcome", "ok")))] == 2
    assert _samples(ours.registry)[("cashier_channel_latency_seconds_count",
                                    (("channel", "mobile"), ("operation", "prepare")))] == 2
