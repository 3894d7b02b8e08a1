"""The Starlette application behind the HTTP face."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.web.checkout import CheckoutPages
from gateway.web.notifications import notification_endpoint

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def create_app(gateway: Gateway) -> Starlette:
    def database_ok() -> bool:
        try:
            with gateway.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means: not healthy
            return False

    async def healthz(request: Request) -> Response:
        ok = await run_in_threadpool(database_ok)
        return JSONResponse({"status": "ok" if ok else "unavailable", "database": ok},
                            status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(gateway.metrics.exposition)
        return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)

    return Starlette(routes=[
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/notify/{channel}/{merchant}", notification_endpoint(gateway), methods=["POST"]),
        *CheckoutPages(gateway).routes(),
    ])
