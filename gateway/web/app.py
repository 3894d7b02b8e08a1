"""The Starlette application behind the HTTP face."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.metrics import Metrics
from gateway.service.services import Services
from gateway.web.bodies import MAX_BODY, BodyLimit
from gateway.web.checkout import CheckoutPages
from gateway.web.notifications import notification_endpoint

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _health_and_metrics(services: Services, metrics: Metrics) -> tuple[Route, Route]:
    async def healthz(request: Request) -> Response:
        ok = await run_in_threadpool(services.database_ok)
        return JSONResponse({"status": "ok" if ok else "unavailable", "database": ok},
                            status_code=200 if ok else 503)

    async def exposition(request: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)

    return Route("/healthz", healthz), Route("/metrics", exposition)


def create_app(services: Services, metrics: Metrics, public_url: str, *, serve_metrics: bool = True) -> Starlette:
    """The public face, reached by buyers and rails at `public_url`; without `serve_metrics` (an operations
    listener serves them), /metrics is a 404 here. Called by the composition root (gateway/bootstrap.py)."""
    healthz, metrics_route = _health_and_metrics(services, metrics)
    return Starlette(routes=[
        healthz,
        *([metrics_route] if serve_metrics else []),
        Route("/notify/{channel}/{merchant}", notification_endpoint(services, metrics), methods=["POST"]),
        *CheckoutPages(services, metrics, public_url).routes(),
    ], middleware=[Middleware(BodyLimit, limit=MAX_BODY)])


def create_ops_app(services: Services, metrics: Metrics) -> Starlette:
    """The operations listener (`[server] ops`): /metrics and /healthz only, never reachable from outside
    unless the operator binds it so."""
    return Starlette(routes=list(_health_and_metrics(services, metrics)),
                     middleware=[Middleware(BodyLimit, limit=0)])
