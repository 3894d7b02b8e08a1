"""The bare HTTP baseline for notification ingestion: the gateway's HTTP stack exactly as a worker serves
it (gateway/web/server.py's `HttpFace`: uvicorn with our `GuardedH11Protocol`, the default `[server]`
limits, a socket bound and listening as gateway/runtime.py binds it) serving a Starlette app with one
route at the same path that reads the body and answers `success`, as the gateway does once a notification
is applied. No parsing, no signature check, no database: the gateway's cost over this is its own work.

Run by the bench as `python -m bench.http_echo`; prints its address when ready.
"""

from __future__ import annotations

import signal
import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.config import ServerSettings
from gateway.runtime import listening_socket
from gateway.web.server import HttpFace, HttpLimits


async def notify(request: Request) -> Response:
    await request.body()
    return PlainTextResponse("success")


def main() -> None:
    app = Starlette(routes=[Route("/notify/{channel}/{merchant}", notify, methods=["POST"])])
    face = HttpFace(app, listening_socket("127.0.0.1:0", reuse_port=False), HttpLimits.of(ServerSettings()),
                    name="http-echo")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    face.start()
    print(f"http-echo: HTTP on 127.0.0.1:{face.port}", flush=True)
    stop.wait()
    face.stop()


if __name__ == "__main__":
    main()
