"""Request bodies, bounded before they are read.

Anyone on the internet can POST to the HTTP face (`/notify` must take Alipay's notifications without
authentication), so no route ever buffers a body it has not bounded first:

- `BodyLimit`, an ASGI middleware around the whole app, answers 413 at once when `Content-Length`
  exceeds the largest body any route takes, and cuts a chunked (or lying) body off at that size;
- `read_body(request, limit)`, what every body-reading route calls, does the same with the route's own
  (smaller) limit.

A refused request's answer carries `Connection: close`: the rest of its body is never read, the
connection is dropped instead (see gateway/web/server.py).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The largest body any route of the HTTP face accepts (a channel's notification).
MAX_BODY = 64 * 1024

_CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """413, raised while a body is read; Starlette's exception middleware turns it into the answer."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit} bytes", headers=_CLOSE)


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when it has none (chunked); a malformed one counts as too large
    (h11 refuses those before us anyway)."""
    value = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 18 else 1 << 62


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge once it is known to exceed `limit`: from Content-Length before a
    byte is read, or after `limit` bytes of a chunked body; never more than `limit` plus one chunk held."""
    length = declared_length(request.scope)
    if length is not None and length > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(limit)
    except ClientDisconnect:
        # Gone (or timed out by the server) mid-body: nobody to answer, nothing worth a traceback in the log.
        raise HTTPException(400, "request body incomplete") from None
    return bytes(body)


class BodyLimit:
    """The guard under every route, those to come included: no body larger than `limit` gets through."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > self.limit:
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b"too large"})
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, bounded, send)
