"""The sandbox as a Starlette application: Alipay's gateway, plus the buyer's pages (``pages.py``) and the
admin API (``admin.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import crypto
from .admin import AdminApi
from .config import SandboxConfig
from .core import Sandbox
from .dispatch import PAGE_METHODS, Reply
from .forms import base_url, read_params, request_faults
from .pages import BuyerPages


class AbsoluteFormTarget:
    """Route ``POST http://host:port/gateway.do?... HTTP/1.1`` (absolute-form, which Alipay's official SDK sends
    and RFC 9112 §3.2.2 says a server MUST accept) by its path. uvicorn hands the whole URL on as the path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(("http://", "https://")):
            target: bytes = scope.get("raw_path") or scope["path"].encode()
            raw_path = urlsplit(target).path or b"/"
            scope = {**scope, "path": unquote(raw_path.decode(errors="replace")), "raw_path": raw_path}
        await self.app(scope, receive, send)


class Gateway:
    """``gateway.do`` and the bill download it links to, bound to one Sandbox."""

    def __init__(self, sandbox: Sandbox, pages: BuyerPages) -> None:
        self.sandbox = sandbox
        self.pages = pages

    def routes(self) -> list[Route]:
        return [
            Route("/gateway.do", self.gateway, methods=["GET", "POST"]),
            Route("/downloadBillFile.resource", self.bill),
        ]

    def gateway_response(self, reply: Reply) -> Response:
        assert reply.node is not None
        charset = reply.charset
        node = crypto.encode_node(reply.node).encode(charset, errors="replace")
        body = b'{"' + reply.key.encode() + b'":' + node
        if reply.signed:
            # Alipay escapes "/" inside the node's strings, but never inside the Base64 of ``sign``.
            held = self.sandbox.answer_certificate(reply.app_id)  # read once: a rotation may come in between
            sign = self.sandbox.keys.sign_node(node, reply.wrong_key, key=held.private_key if held else None)
            body += b',"sign":"' + sign.encode("ascii") + b'"'
            if held is not None:  # certificate mode: the serial of the certificate whose key signed
                body += b',"alipay_cert_sn":"' + held.sn.encode("ascii") + b'"'
        body += b"}"
        label = "utf-8" if charset == "utf-8" else "GBK"
        return Response(body, headers={"content-type": f"text/html;charset={label}"})

    async def gateway(self, request: Request) -> Response:
        params = await read_params(request)
        reply = self.sandbox.call(params, base_url(request), request_faults(request))
        if reply.method in PAGE_METHODS:
            return self.pages.page_response(request, reply)
        response = self.gateway_response(reply)
        if reply.delay > 0:
            await self._sleep(reply.delay)
        return response

    async def _sleep(self, seconds: float) -> None:
        """The timeout fault: wait, but give up as soon as the sandbox is stopping."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while not self.sandbox.stopping.is_set():
            left = until - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))

    async def bill(self, request: Request) -> Response:
        found = self.sandbox.bill_file(request.query_params.get("token", ""))
        if found is None:
            return PlainTextResponse("账单链接无效或已过期 · bill link invalid or expired", status_code=404)
        filename, data = found
        return Response(data, media_type="application/zip",
                        headers={"content-disposition": f'attachment; filename="{filename}"'})


def create_app(config: SandboxConfig | None = None, *, sandbox: Sandbox | None = None) -> Starlette:
    """A sandbox ASGI app. Its notifier thread runs between the app's lifespan startup and shutdown."""
    sandbox = sandbox or Sandbox(config or SandboxConfig())
    pages = BuyerPages(sandbox)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sandbox.start()
        try:
            yield
        finally:
            await asyncio.to_thread(sandbox.stop)

    routes = Gateway(sandbox, pages).routes() + pages.routes() + AdminApi(sandbox).routes()
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(AbsoluteFormTarget)])
    app.state.sandbox = sandbox
    return app


__all__ = ["create_app"]
