"""The bare HTTP baseline for notification ingestion: the gateway's HTTP stack (uvicorn serving a Starlette
app, configured as gateway/runtime.py's HttpFace configures it) with one route at the same path that reads
the body and answers `success`, as the gateway does once a notification is applied. No parsing, no
signature check, no database.

Run by the bench as `python -m bench.http_echo`; prints its address when ready.
"""

from __future__ import annotations

import signal
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


async def notify(request: Request) -> Response:
    await request.body()
    return PlainTextResponse("success")


def main() -> None:
    app = Starlette(routes=[Route("/notify/{channel}/{merchant}", notify, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as gateway/runtime.py
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    print(f"http-echo: HTTP on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
