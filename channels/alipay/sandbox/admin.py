"""The admin API (JSON under ``/sandbox/``): inspect and drive trades, read transfers and notifications,
switch faults, register apps, fetch the sandbox's public key, reset."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .buyer import PayError
from .core import Sandbox
from .faults import FaultError
from .store import Trade


def _state_error(exc: PayError) -> JSONResponse:
    return JSONResponse({"error": "TRADE_STATUS_ERROR", "status": exc.status, "message": str(exc)},
                        status_code=409)


class AdminApi:
    """Routes bound to one Sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def routes(self) -> list[Route]:
        return [
            Route("/sandbox/trades", self.trades),
            Route("/sandbox/trades/{key}", self.trade),
            Route("/sandbox/trades/{key}/pay", self.trade_pay, methods=["POST"]),
            Route("/sandbox/trades/{key}/expire", self.trade_expire, methods=["POST"]),
            Route("/sandbox/trades/{key}/finish", self.trade_finish, methods=["POST"]),
            Route("/sandbox/transfers", self.transfers),
            Route("/sandbox/notifications", self.notifications),
            Route("/sandbox/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/sandbox/apps", self.apps, methods=["GET", "POST"]),
            Route("/sandbox/public-key", self.public_key),
            Route("/sandbox/reset", self.reset, methods=["POST"]),
        ]

    # -- trades --------------------------------------------------------
    def _one_trade(self, request: Request) -> Trade | JSONResponse:
        key = request.path_params["key"]
        found = self.sandbox.store.lookup(key, request.query_params.get("app_id", ""))
        if not found:
            return JSONResponse({"error": "TRADE_NOT_EXIST", "key": key}, status_code=404)
        if len(found) > 1:
            return JSONResponse({"error": "AMBIGUOUS", "hint": "add ?app_id=...",
                                 "app_ids": sorted(t.app_id for t in found)}, status_code=409)
        return found[0]

    async def trades(self, request: Request) -> Response:
        q = request.query_params
        with self.sandbox.store.lock:
            trades = [
                t.public()
                for t in self.sandbox.store.trades.values()
                if all(not q.get(k) or q[k] == getattr(t, k) for k in ("app_id", "out_trade_no", "status"))
            ]
        return JSONResponse({"trades": trades})

    async def trade(self, request: Request) -> Response:
        trade = self._one_trade(request)
        if isinstance(trade, Response):
            return trade
        with self.sandbox.store.lock:
            return JSONResponse(trade.public())

    async def trade_pay(self, request: Request) -> Response:
        trade = self._one_trade(request)
        if isinstance(trade, Response):
            return trade
        body = await request.body()
        try:
            doc = json.loads(body) if body.strip() else {}
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        try:
            notify_id = self.sandbox.pay(
                trade,
                buyer_logon_id=str(doc.get("buyer_logon_id") or ""),
                buyer_id=str(doc.get("buyer_id") or ""),
                notify=bool(doc.get("notify", True)),
            )
        except PayError as exc:
            return _state_error(exc)
        return_url = self.sandbox.return_url_of(trade) if trade.return_url else None
        with self.sandbox.store.lock:
            return JSONResponse({"trade": trade.public(), "notify_id": notify_id, "return_url": return_url})

    async def _trade_action(self, request: Request, action: str) -> Response:
        trade = self._one_trade(request)
        if isinstance(trade, Response):
            return trade
        try:
            getattr(self.sandbox, action)(trade)
        except PayError as exc:
            return _state_error(exc)
        with self.sandbox.store.lock:
            return JSONResponse({"trade": trade.public()})

    async def trade_expire(self, request: Request) -> Response:
        return await self._trade_action(request, "expire")

    async def trade_finish(self, request: Request) -> Response:
        return await self._trade_action(request, "finish")

    # -- records -------------------------------------------------------
    async def transfers(self, request: Request) -> Response:
        with self.sandbox.store.lock:
            return JSONResponse({"transfers": [t.public() for t in self.sandbox.store.transfers.values()]})

    async def notifications(self, request: Request) -> Response:
        q = request.query_params
        notes = [
            n for n in self.sandbox.notifier.snapshot()
            if all(not q.get(k) or q[k] == n[k] for k in ("out_trade_no", "trade_no", "app_id", "notify_id"))
        ]
        return JSONResponse({"notifications": notes})

    # -- faults, apps, keys --------------------------------------------
    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.sandbox.faults.reset()
        elif request.method == "POST":
            try:
                self.sandbox.faults.update(json.loads(await request.body() or b"{}"))
            except (ValueError, FaultError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.sandbox.faults.snapshot())

    async def apps(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                doc = json.loads(await request.body())
                app = self.sandbox.register_app(str(doc["app_id"]), str(doc["public_key"]), doc.get("seller_id"))
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": f"expected {{app_id, public_key[, seller_id]}}: {exc}"},
                                    status_code=400)
            return JSONResponse({"app_id": app.app_id, "seller_id": app.seller_id}, status_code=201)
        with self.sandbox.store.lock:
            apps = [{"app_id": a.app_id, "seller_id": a.seller_id} for a in self.sandbox.store.apps.values()]
        return JSONResponse({"apps": apps})

    async def public_key(self, request: Request) -> Response:
        if request.query_params.get("format") in ("bare", "base64"):
            return PlainTextResponse(self.sandbox.public_key_bare)
        return PlainTextResponse(self.sandbox.public_key_pem)

    async def reset(self, request: Request) -> Response:
        self.sandbox.reset()
        return JSONResponse({"reset": True})
