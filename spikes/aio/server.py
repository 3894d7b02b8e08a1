"""`python -m spikes.aio.server --config F [--grpc HOST:PORT]`: CreatePayment alone, served by `grpc.aio`.

One event loop runs every call: authentication (the gateway's Authenticator and its cache), the checks the
interceptor makes, request validation, routing and the channel's preparation (for the `mobile` channel the
RSA2-signed order string) and the response. The payment's INSERT goes to the one writer thread
(spikes/aio/writer.py), which commits payments in batches and answers each call only after its COMMIT.

`--sign thread` prepares (and signs) in one thread of its own instead of on the loop; `--store service` runs
the whole synchronous PaymentService.create in one thread instead (the least change to the service layer,
but gateway/storage/group_commit.py then commits once per payment: one thread never finds anybody queued).

Not kept off the loop: a miss of the API-key or merchant cache (each `auth.cache_seconds`, 1 s) reads the
database on it. Outside the spike: other RPCs, idempotency-key (refused), WatchPayment, health, reflection, TLS, workers,
the HTTP face. The background jobs run, as in `cashier serve`, so both servers carry the same housekeeping.
Prints `spike: gRPC on HOST:PORT` once it accepts calls (what bench/gateway.py's start_server reads).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from cashier.v1 import cashier_service_pb2 as svc
from gateway.api import convert
from gateway.api.idempotency import IDEMPOTENCY_HEADER
from gateway.api.interceptor import _check, _measure, _principal, _request_id
from gateway.api.request_checks import tolerant_deserializer
from gateway.api.server import server_options
from gateway.api.status import internal_status, status_code_for, to_status
from gateway.bootstrap import Gateway, background_jobs, bootstrap  # noqa: TID251 - an entry point, like runtime.py
from gateway.config import Settings, load_settings
from gateway.domain.errors import CashierError, FailedPrecondition, Violations
from gateway.domain.merchants import Principal, PrincipalKind
from gateway.domain.payments import NewPayment, Payment
from gateway.domain.validation import validate_new_payment
from gateway.logs import configure_logging, request_id_var
from gateway.service.channel_views import route_request
from gateway.service.payments import CreatePayment
from spikes.aio.writer import BatchWriter

SERVICE = "cashier.v1.CashierService"
APP_ONLY = frozenset({PrincipalKind.APP})
log = logging.getLogger("cashier.spike")


class CreatePaymentHandler:
    """The interceptor's per-call work (gateway/api/interceptor.py) and CashierServicer.CreatePayment's, as
    one coroutine."""

    def __init__(self, gateway: Gateway, writer: BatchWriter, sign_thread: ThreadPoolExecutor | None,
                 service_thread: ThreadPoolExecutor | None):
        self.gateway = gateway
        self.payments = gateway.payments
        self.writer = writer
        self.sign_thread = sign_thread
        self.service_thread = service_thread

    async def handle(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> svc.CreatePaymentResponse:
        started = time.perf_counter()
        pairs = context.invocation_metadata()
        metadata = dict(pairs or ())
        request_id = _request_id(metadata.get("x-request-id"))
        id_token = request_id_var.set(request_id)
        code = grpc.StatusCode.OK
        principal_id = ""
        try:
            await context.send_initial_metadata((("x-request-id", request_id),))
            principal = _principal(self.gateway.authenticator.authenticate, metadata, "CreatePayment", APP_ONLY)
            principal_id = principal.id
            _check(request, pairs)
            if IDEMPOTENCY_HEADER in metadata:
                raise FailedPrecondition("the aio spike does not honour idempotency-key", reason="SPIKE")
            payment = await self._create(principal, request)
            return svc.CreatePaymentResponse(payment=convert.payment_to_proto(payment))
        except CashierError as exc:
            code = status_code_for(exc)
            await context.abort_with_status(to_status(exc))  # raises AbortError, which no clause below sees
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unhandled error in CreatePayment", extra={"method": "CreatePayment"})
            await context.abort_with_status(internal_status(request_id))
            raise
        finally:
            _measure(self.gateway.metrics.observe_rpc, "CreatePayment", code, started, principal_id)
            request_id_var.reset(id_token)

    async def _create(self, principal: Principal, request: svc.CreatePaymentRequest) -> Payment:
        v = Violations()
        new = convert.new_payment_from(v, request)
        validate_new_payment(new, v)
        loop = asyncio.get_running_loop()
        if self.service_thread is not None:
            return await loop.run_in_executor(self.service_thread, self.payments.create,
                                              CreatePayment(principal, new))
        if self.sign_thread is not None:
            prepared = await loop.run_in_executor(self.sign_thread, self._prepare, principal, new)
        else:
            prepared = self._prepare(principal, new)
        return await self.writer.add(prepared)

    def _prepare(self, principal: Principal, new: NewPayment) -> Payment:
        """PaymentService.create up to its transaction: the merchant (cached), the route, the channel's
        preparation (the signature). A merchant cache miss reads the database here, once a second."""
        service = self.payments
        merchant = service._collecting_merchant(principal, new.merchant_id)
        decision = service.router.route(
            route_request(merchant, new.amount, new.currency, new.client, new.scenario, new.scan_to_pay))
        channel = decision.require()
        now = service.clock()
        payment = Payment.create(payment_id=service.new_id(now), app_id=principal.id, new=new,
                                 channel=channel.name, now=now, checkout_token=service.new_token())
        return payment.with_action(service.router.prepare(channel, payment))


def _settings(config: str | None, grpc_address: str) -> Settings:
    settings = load_settings(config)
    server = {"grpc": grpc_address}
    if not settings.server.public_url:
        # Channels put it in what they sign (the notify_url); the spike serves no HTTP, so any fixed URL will do.
        server["public_url"] = "http://127.0.0.1:8080"
    return settings.model_copy(update={"server": settings.server.model_copy(update=server)})


async def serve(args: argparse.Namespace) -> None:
    settings = _settings(args.config, args.grpc)
    configure_logging(settings.logging.level, settings.logging.format)
    gateway = bootstrap(settings)
    loop = asyncio.get_running_loop()
    writer = BatchWriter(gateway.engine, loop, gather_seconds=args.gather_ms / 1000)
    writer.start()
    sign_thread = ThreadPoolExecutor(1, "spike-sign") if args.sign == "thread" else None
    service_thread = ThreadPoolExecutor(1, "spike-service") if args.store == "service" else None
    handler = CreatePaymentHandler(gateway, writer, sign_thread, service_thread)
    method = grpc.unary_unary_rpc_method_handler(
        handler.handle,  # a coroutine function (grpc.aio tells by inspecting it; a callable object is not one)
        request_deserializer=tolerant_deserializer(svc.CreatePaymentRequest.FromString,
                                                   svc.CreatePaymentRequest.DESCRIPTOR.full_name),
        response_serializer=svc.CreatePaymentResponse.SerializeToString)
    server = grpc.aio.server(options=server_options(settings.server),
                             maximum_concurrent_rpcs=settings.server.grpc_rpcs)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"CreatePayment": method})])
    port = server.add_insecure_port(settings.server.grpc)
    if port == 0:
        raise OSError(f"could not bind gRPC to {settings.server.grpc}")
    await server.start()
    jobs = background_jobs(gateway) if args.jobs else None
    if jobs is not None:
        jobs.start()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    host = settings.server.grpc.rpartition(":")[0]
    print(f"spike: gRPC on {host}:{port}", flush=True)
    await stopping.wait()
    await server.stop(settings.server.grace_seconds)
    if jobs is not None:
        jobs.stop()
    writer.stop()
    for pool in (sign_thread, service_thread):
        if pool is not None:
            pool.shutdown()
    log.warning("spike stopped: %d payments in %d commits", writer.committed, writer.commits)
    gateway.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m spikes.aio.server", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="the gateway's TOML file; the database from it or CASHIER_DATABASE_URL")
    p.add_argument("--grpc", default="127.0.0.1:0", help="address to serve gRPC on [127.0.0.1:0]")
    p.add_argument("--sign", choices=("inline", "thread"), default="inline",
                   help="prepare and sign on the event loop, or in one thread of its own [inline]")
    p.add_argument("--store", choices=("batch", "service"), default="batch",
                   help="the payment's INSERT in the batching writer thread, or the whole synchronous "
                        "PaymentService.create in one thread [batch]")
    p.add_argument("--gather-ms", type=float, default=0.0,
                   help="how long the writer lets the first payment of a batch wait for more [0]")
    p.add_argument("--profile", type=Path, metavar="FILE",
                   help="profile every thread with yappi's CPU clock from start to stop; write the top "
                        "functions and the per-thread CPU to FILE")
    p.add_argument("--no-jobs", dest="jobs", action="store_false", help="no background jobs")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.profile is None:
        asyncio.run(serve(args))
        return
    import yappi  # type: ignore[import-untyped]

    yappi.set_clock_type("cpu")
    yappi.start(builtins=False)  # C functions are counted in their Python callers: less overhead, less distortion
    try:
        asyncio.run(serve(args))
    finally:
        yappi.stop()
        with open(args.profile, "w") as out:
            yappi.get_thread_stats().print_all(out=out)
            stats = yappi.get_func_stats()
            for sort in ("tsub", "ttot"):
                out.write(f"\n--- functions by {sort} ---\n")
                stats.sort(sort).print_all(out=out, columns={0: ("name", 90), 1: ("ncall", 10), 2: ("tsub", 8),
                                                             3: ("ttot", 8), 4: ("tavg", 8)})


if __name__ == "__main__":
    main()
