"""Serving the HTTP face (and the operations listener) with bounds an attacker cannot stretch.

uvicorn serves the Starlette app, through a protocol class of ours (`GuardedH11Protocol`, uvicorn's h11
protocol with three additions), because uvicorn alone has no header-read timeout and its
`limit_concurrency` answers 503 only after a connection has been accepted and read:

- **header timeout**: a connection must complete a request's headers within `header_timeout` seconds of
  its opening, or of the end of the previous response on a keep-alive connection; then a request's body
  must arrive within `body_timeout`. Otherwise it is closed (slowloris).
- **connections per worker**: at most `max_connections` are open at once. A connection over the cap
  closes the oldest one still waiting for its headers (an idle or stalled one) or, when every open
  connection is busy with a request, is closed itself at once, before anything is read.
- **a request answered before its body was read**: a body refused as too large (413, see
  gateway/web/bodies.py) is never drained, its connection is closed once the answer is written; the rest
  of any other is read and dropped up to DRAIN_LIMIT bytes (then the connection is closed), so that a
  client that sent its headers and body apart still gets its 404.

The cap stays below the process's open-file limit (raised from its soft to its hard value at start) minus
a reserve for the database, gRPC and the connections accepted in one go before the cap can act (the budget
both faces share, gateway/open_files.py), so that `accept()` never fails with EMFILE and the database can
always open a file. Repeated warnings (ours, asyncio's "socket.accept() out of system resource", uvicorn's
"Invalid HTTP request") are rate-limited.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.config import ServerSettings
from gateway.open_files import ACCEPT_BATCH, http_connection_budget

log = logging.getLogger("cashier.http")

#: The most of a body left unread by an early answer that is read and dropped to keep the connection.
DRAIN_LIMIT = 64 * 1024


@dataclass(frozen=True)
class HttpLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive: float = 5.0
    max_connections: int = 1000

    @classmethod
    def of(cls, server: ServerSettings) -> HttpLimits:
        """The public face's limits, from `[server]`."""
        return cls(server.http_header_timeout_seconds, server.http_body_timeout_seconds,
                   server.http_keepalive_seconds, server.http_max_connections)


#: The operations listener's: a few scrapers and probes, answered at once.
OPS_LIMITS = HttpLimits(header_timeout=5.0, body_timeout=5.0, keepalive=5.0, max_connections=32)


class RepeatLimit(logging.Filter):
    """Let through at most `burst` records of one message per `window` seconds; the first one let through
    after a quiet spell says how many were held back."""

    def __init__(self, burst: int = 3, window: float = 60.0, spare_tracebacks: bool = False):
        super().__init__()
        self.burst, self.window = burst, window
        self.spare_tracebacks = spare_tracebacks  # an application's exceptions are each worth reading
        self._seen: dict[tuple[str, str], tuple[float, int, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.spare_tracebacks and record.exc_info:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            start, passed, held = self._seen.get(key, (now, 0, 0))
            if now - start >= self.window:
                start, passed = now, 0
            if passed >= self.burst:
                self._seen[key] = (start, passed, held + 1)
                return False
            self._seen[key] = (start, passed + 1, 0)
            if len(self._seen) > 1000:  # messages are templates, but never let the table grow unbounded
                self._seen.clear()
        if held:
            record.msg = f"{record.msg} ({held} similar messages suppressed)"
        return True


#: asyncio's accept errors and our refusals come in floods; uvicorn's "Invalid HTTP request received." too,
#: but its "Exception in ASGI application" tracebacks are our bugs: those all pass.
_REPEAT_LIMITS = {"asyncio": RepeatLimit(), log.name: RepeatLimit(), "uvicorn.error": RepeatLimit(spare_tracebacks=True)}


def limit_repeated_logs() -> None:
    for name, limit in _REPEAT_LIMITS.items():
        logger = logging.getLogger(name)
        if limit not in logger.filters:
            logger.addFilter(limit)


class ConnectionGate:
    """The open connections of one listener (touched only from its event loop's thread)."""

    def __init__(self, limits: HttpLimits, name: str):
        self.limits = limits
        self.name = name
        self.open = 0
        # Connections waiting for a request's headers, oldest first (dicts keep insertion order).
        self.waiting: dict[GuardedH11Protocol, None] = {}
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, bounded by its listener's `ConnectionGate` (set on a subclass, see `guarded`)."""

    gate: ConnectionGate

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._admitted = False
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._drained: int | None = None  # bytes of an answered request's body read since, and dropped

    # -- admission ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        gate = self.gate
        if gate.open >= gate.limits.max_connections:
            oldest = next(iter(gate.waiting), None)
            if oldest is None:
                gate.refused += 1
                log.warning("HTTP connection refused: every connection is busy",
                            extra={"listener": gate.name, "open": gate.open, "refused": gate.refused})
                transport.abort()
                return
            gate.evicted += 1
            oldest._close("evicted")
        self._admitted = True
        gate.open += 1
        super().connection_made(transport)
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self.gate.open -= 1
        self._set_phase(None)
        super().connection_lost(exc)

    # -- deadlines ---------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._drained is not None:
            self._drained += len(data)
            if self._drained > DRAIN_LIMIT:
                self._close("unread body too large")
                return
        super().data_received(data)
        if self._drained is not None and self.conn.their_state is not h11.SEND_BODY:
            self._drained = None
        self._track()

    def on_response_complete(self) -> None:
        if self.conn.their_state is h11.SEND_BODY:
            # Answered before its body was read (404 for an unknown channel, say): uvicorn reads the rest and
            # drops it, so that the connection can serve the next request; but only this much, within the
            # body timeout (413s carry `Connection: close` and never get here).
            self._drained = 0
        super().on_response_complete()
        self._track()

    def _track(self) -> None:
        state = self.conn.their_state
        self._set_phase("headers" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None)

    def _set_phase(self, phase: str | None) -> None:
        if phase == self._phase:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.gate.waiting.pop(self, None)
        self._phase = phase
        if phase is None or self.transport is None or self.transport.is_closing():
            return
        if phase == "headers":
            self.gate.waiting[self] = None
        limits = self.gate.limits
        timeout = limits.header_timeout if phase == "headers" else limits.body_timeout
        self._deadline = self.loop.call_later(timeout, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        self.gate.timed_out += 1
        self._close(f"{self._phase} timeout")

    def _close(self, why: str) -> None:
        self._set_phase(None)
        if not self.transport.is_closing():
            log.debug("closing HTTP connection: %s", why, extra={"listener": self.gate.name})
            self.transport.abort()


def guarded(limits: HttpLimits, name: str) -> type[GuardedH11Protocol]:
    """A protocol class bound to a fresh gate: one per listener."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"gate": ConnectionGate(limits, name)})


class HttpFace:
    """uvicorn serving an ASGI app from a thread of the worker, on a socket bound beforehand."""

    def __init__(self, app: ASGIApp, sock: socket.socket, limits: HttpLimits, tls: tuple[str, str] | None = None,
                 name: str = "http-face"):
        limit_repeated_logs()
        self.limits = HttpLimits(limits.header_timeout, limits.body_timeout, limits.keepalive,
                                 http_connection_budget(limits.max_connections))
        self.protocol = guarded(self.limits, name)
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", http=self.protocol,
            backlog=ACCEPT_BATCH, timeout_keep_alive=limits.keepalive,  # type: ignore[arg-type]
            ssl_keyfile=tls[0] if tls else None, ssl_certfile=tls[1] if tls else None,
        )
        self.server = uvicorn.Server(config)
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def gate(self) -> ConnectionGate:
        return self.protocol.gate

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
