"""The admin API (JSON under ``/sandbox/``): inspect and drive trades, read transfers and notifications,
switch faults, register apps (in key or certificate mode) and Alipay accounts, fetch the sandbox's public key
and certificates, rotate the Alipay certificate, reset."""

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
            Route("/sandbox/accounts", self.accounts, methods=["GET", "POST"]),
            Route("/sandbox/certificates", self.certificates),
            Route("/sandbox/certificates/rotate", self.rotate, methods=["POST"]),
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
                self.sandbox.faults.update(json.loads(await request.body() or b"{}"),
                                           now=self.sandbox.config.clock())
            except (ValueError, FaultError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.sandbox.faults.snapshot())

    async def apps(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                doc = json.loads(await request.body())
                app = self.sandbox.register_app(str(doc["app_id"]), str(doc["public_key"]), doc.get("seller_id"))
                certificate_mode = doc.get("certificate_mode", False) is True
                files = self._certificate_files(app.app_id) if certificate_mode else {}
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse(
                    {"error": f"expected {{app_id, public_key[, seller_id, certificate_mode]}}: {exc}"},
                    status_code=400,
                )
            return JSONResponse({"app_id": app.app_id, "seller_id": app.seller_id, **files}, status_code=201)
        with self.sandbox.store.lock:
            apps = [{"app_id": a.app_id, "seller_id": a.seller_id} for a in self.sandbox.store.apps.values()]
        return JSONResponse({"apps": apps})

    async def public_key(self, request: Request) -> Response:
        if request.query_params.get("format") in ("bare", "base64"):
            return PlainTextResponse(self.sandbox.public_key_bare)
        return PlainTextResponse(self.sandbox.public_key_pem)

    # -- certificate mode ----------------------------------------------
    def _certificate_files(self, app_id: str) -> dict[str, str]:
        """Certify the app's key; the three files a certificate-mode client configures, as PEM text."""
        issued = self.sandbox.issue_app_certificate(app_id)
        ca = self.sandbox.ca
        return {
            "app_cert": issued.pem.decode("ascii"),
            "app_cert_sn": issued.sn,
            "alipay_cert": ca.alipay_certificate.pem.decode("ascii"),
            "alipay_root_cert": ca.root_pem.decode("ascii"),
        }

    async def certificates(self, request: Request) -> Response:
        ca = self.sandbox.ca
        current = ca.alipay_certificate
        return JSONResponse({
            "alipay_cert_sn": current.sn,
            "alipay_cert": current.pem.decode("ascii"),
            "alipay_root_cert_sn": ca.root_cert_sn,
            "alipay_root_cert": ca.root_pem.decode("ascii"),
        })

    async def rotate(self, request: Request) -> Response:
        """A new Alipay certificate signs every certificate-mode answer from now on (old ones stay downloadable)."""
        rotated = self.sandbox.rotate_alipay_certificate()
        return JSONResponse({"alipay_cert_sn": rotated.sn, "alipay_cert": rotated.pem.decode("ascii")})

    async def accounts(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                doc = json.loads(await request.body())
                self.sandbox.register_account(str(doc["logon_id"]), str(doc["name"]))
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": f"expected {{logon_id, name}}: {exc}"}, status_code=400)
            return JSONResponse({"logon_id": doc["logon_id"], "name": doc["name"]}, status_code=201)
        with self.sandbox.store.lock:
            accounts = [{"logon_id": k, "name": v} for k, v in self.sandbox.store.accounts.items()]
        return JSONResponse({"accounts": accounts})

    async def reset(self, request: Request) -> Response:
        self.sandbox.reset()
        return JSONResponse({"reset": True})
