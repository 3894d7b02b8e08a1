"""`python -m spikes.aio.breakdown [-n 2000]`: where a CreatePayment's CPU goes, stage by stage, in one thread
with no server and no profiler: the bench's request, the `mobile` channel signing against the local Alipay
sandbox, a fresh SQLite database. CPU time (time.process_time) per call of each stage, so that the spike's
figures can be read against what the work itself costs (bench/README.md: 1.1-1.3 ms in all)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import gateway as gw
from bench.payload import APP_ID, MERCHANT_ID, create_payment_request
from cashier.v1 import cashier_service_pb2 as svc
from channels.alipay.sandbox.local import start_local_alipay
from gateway.api import convert
from gateway.api.interceptor import _check
from gateway.bootstrap import bootstrap  # noqa: TID251 - an entry point of its own, like runtime.py
from gateway.config import load_settings
from gateway.domain.errors import Violations
from gateway.domain.payments import Payment
from gateway.domain.validation import validate_new_payment
from gateway.service.admin import NewMerchant
from gateway.service.channel_views import route_request
from gateway.storage.unit_of_work import SqlUnitOfWork
from spikes.aio.writer import BatchWriter, _Pending


def per_call(n: int, stage: Callable[[int], Any]) -> float:
    """CPU microseconds per call of `stage(i)` over n calls."""
    started = time.process_time()
    for i in range(n):
        stage(i)
    return (time.process_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m spikes.aio.breakdown")
    parser.add_argument("-n", type=int, default=2000, help="calls per stage [2000]")
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory(prefix="cashier-spike-breakdown-") as tmp:
        work = Path(tmp)
        local = start_local_alipay(work / "alipay-keys")
        try:
            config = gw.write_config(work / "c.toml", None, gw.PREFERRED_CHANNEL, local.channel_table)
            settings = load_settings(config, env={"CASHIER_DATABASE_URL": f"sqlite:///{work / 'c.db'}"})
            settings = settings.model_copy(update={"server": settings.server.model_copy(
                update={"public_url": "http://127.0.0.1:8080"})})
            gateway = bootstrap(settings)
            try:
                report(gateway, n)
            finally:
                gateway.close()
        finally:
            local.stop()


def report(gateway: Any, n: int) -> None:
    admin, service = gateway.admin, gateway.payments
    admin.create_merchant(NewMerchant(MERCHANT_ID, "Bench Shop"))
    key = admin.create_app(APP_ID, "Bench App").key
    admin.authorize_app(APP_ID, MERCHANT_ID)
    principal = gateway.authenticator.authenticate(key)
    raw = [create_payment_request(f"bd-{i}") for i in range(n)]
    requests = [svc.CreatePaymentRequest.FromString(r) for r in raw]
    news = []
    for r in requests:
        v = Violations()
        news.append(convert.new_payment_from(v, r))
    merchant = service._collecting_merchant(principal, MERCHANT_ID)
    channel = service.router.route(route_request(merchant, news[0].amount, news[0].currency, news[0].client,
                                                 news[0].scenario, news[0].scan_to_pay)).require()

    def decode_validate(i: int) -> None:
        request = svc.CreatePaymentRequest.FromString(raw[i])
        _check(request, (("authorization", "Bearer x"),))
        v = Violations()
        validate_new_payment(convert.new_payment_from(v, request), v)

    def route(i: int) -> None:
        new = news[i]
        service._collecting_merchant(principal, new.merchant_id)
        service.router.route(route_request(merchant, new.amount, new.currency, new.client, new.scenario,
                                           new.scan_to_pay)).require()

    payments: list[Payment] = []

    def prepare(i: int) -> None:
        now = service.clock()
        payment = Payment.create(payment_id=service.new_id(now), app_id=principal.id, new=news[i],
                                 channel=channel.name, now=now, checkout_token=service.new_token())
        payments.append(payment.with_action(service.router.prepare(channel, payment)))

    figures = {
        "authenticate (cached key)": per_call(n, lambda i: gateway.authenticator.authenticate(key)),
        "decode, checks, validation": per_call(n, decode_validate),
        "merchant (cached) and routing": per_call(n, route),
        "ids, order string and RSA2 signature": per_call(n, prepare),
    }
    loop = asyncio.new_event_loop()
    writer = BatchWriter(gateway.engine, loop)
    conn = gateway.engine.connect().execution_options(sqlite_immediate=True)
    uow = SqlUnitOfWork(gateway.engine, write=True)
    for size in (1, 16):
        batches = [payments[i:i + size] for i in range(0 if size == 1 else n // 2, n if size > 1 else n // 2, size)]
        started = time.process_time()
        for batch in batches:
            writer._write(conn, uow, [_Pending(p, loop.create_future()) for p in batch])
        figures[f"INSERT + COMMIT, {size} per batch"] = (time.process_time() - started) / (n // 2) * 1e6
    conn.close()
    loop.close()
    figures["response: payment_to_proto + serialize"] = per_call(
        n, lambda i: svc.CreatePaymentResponse(payment=convert.payment_to_proto(payments[i])).SerializeToString())
    for name, micros in figures.items():
        print(f"{name:<42} {micros:8.1f} µs CPU per call")
    print(f"{'sum (16 per batch)':<42} {sum(v for k, v in figures.items() if '1 per' not in k):8.1f} µs")


if __name__ == "__main__":
    main()
