"""The Starlette application behind the HTTP face."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.web.bodies import MAX_BODY, BodyLimit
from gateway.web.checkout import CheckoutPages
from gateway.web.notifications import notification_endpoint

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _health_and_metrics(gateway: Gateway) -> tuple[Route, Route]:
    async def healthz(request: Request) -> Response:
        ok = await run_in_threadpool(gateway.database_ok)
        return JSONResponse({"status": "ok" if ok else "unavailable", "database": ok},
                            status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(gateway.metrics.exposition)
        return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)

    return Route("/healthz", healthz), Route("/metrics", metrics)


def create_app(gateway: Gateway, *, metrics: bool = True) -> Starlette:
    """The public face; without `metrics` (an operations listener serves them), /metrics is a 404 here."""
    healthz, metrics_route = _health_and_metrics(gateway)
    return Starlette(routes=[
        healthz,
        *([metrics_route] if metrics else []),
        Route("/notify/{channel}/{merchant}", notification_endpoint(gateway), methods=["POST"]),
        *CheckoutPages(gateway).routes(),
    ], middleware=[Middleware(BodyLimit, limit=MAX_BODY)])


def create_ops_app(gateway: Gateway) -> Starlette:
    """The operations listener (`[server] ops`): /metrics and /healthz only, never reachable from outside
    unless the operator binds it so."""
    return Starlette(routes=list(_health_and_metrics(gateway)), middleware=[Middleware(BodyLimit, limit=0)])
