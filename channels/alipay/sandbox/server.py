"""Running the sandbox under uvicorn: in the foreground (the CLI) or in a background thread (tests, demo)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Self

import uvicorn

from .app import create_app
from .config import SandboxConfig
from .core import Sandbox


def bind(host: str, port: int) -> socket.socket:
    """A bound socket (port 0 = any free port); uvicorn listens on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listen now, before anyone is told the address: connections wait in the backlog until uvicorn
        # accepts them, instead of being refused while it starts.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _uvicorn_config(app: Any, *, quiet: bool) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning" if quiet else "info",
        log_config=None if quiet else uvicorn.config.LOGGING_CONFIG,
        access_log=not quiet,
        timeout_graceful_shutdown=2,
    )


@dataclass
class SandboxHandle:
    """A sandbox serving from a background thread. ``stop()`` shuts it down and waits."""

    url: str
    sandbox: Sandbox
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    @property
    def gateway_url(self) -> str:
        return f"{self.url}/gateway.do"

    def stop(self, timeout: float = 10.0) -> None:
        self.sandbox.stopping.set()  # lets a "timeout" fault answer at once
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(config: SandboxConfig | None = None, *, startup_timeout: float = 10.0) -> SandboxHandle:
    """Start a sandbox on ``config.host:config.port`` (0 = free port) and return once it accepts requests."""
    config = config or SandboxConfig(port=0)
    sandbox = Sandbox(config)
    sock = bind(config.host, config.port)
    server = uvicorn.Server(_uvicorn_config(create_app(sandbox=sandbox), quiet=True))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="alipay-sandbox-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError("the Alipay sandbox did not start")
        time.sleep(0.01)
    return SandboxHandle(url_of(sock, config.host), sandbox, server, thread, sock)


def serve_forever(config: SandboxConfig, announce: Any = print) -> None:
    """Run in the foreground until SIGINT/SIGTERM; ``announce(sandbox, url)`` is called once bound."""
    sandbox = Sandbox(config)
    sock = bind(config.host, config.port)
    try:
        announce(sandbox, url_of(sock, config.host))
        server = uvicorn.Server(_uvicorn_config(create_app(sandbox=sandbox), quiet=False))
        server.run(sockets=[sock])
    finally:
        sock.close()
