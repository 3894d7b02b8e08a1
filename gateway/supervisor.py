"""`cashier serve`: one worker in this process, or a supervisor that owns N spawned worker processes.

Every server listens with SO_REUSEPORT (the workers share the ports, and an operator may start a second
server beside a running one on purpose, e.g. for a rolling restart), so the kernel would let any second
server in: `serve` first refuses an address something already listens on, unless `share_ports` is set.

The supervisor reserves the ports, spawns the workers, replaces a worker that dies (after a back-off that
doubles while replacements keep dying young) and stops them all on SIGTERM/SIGINT. Workers die with it,
however it dies: each asks Linux for SIGTERM when its parent dies (PR_SET_PDEATHSIG), and also watches a
pipe from the supervisor that reads end-of-file once the supervisor is gone (any platform).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from gateway.config import Settings
from gateway.logs import configure_logging
from gateway.runtime import split_address, start
from gateway.storage import migrate
from gateway.storage.engine import make_engine

log = logging.getLogger("cashier.supervisor")

RESTART_FIRST_SECONDS = 1.0   # a dead worker's replacement waits this long,
RESTART_MAX_SECONDS = 30.0    # doubling up to this while replacements keep dying young;
STABLE_AFTER_SECONDS = 60.0   # a worker that stayed up this long starts the back-off afresh
START_TIMEOUT_SECONDS = 120.0  # every worker must accept calls within this at start
STOP_MARGIN_SECONDS = 10.0    # past grace_seconds, a worker still stopping is killed
PR_SET_PDEATHSIG = 1          # <linux/prctl.h>
# Without SO_REUSEPORT (not on Windows), one process binds the ports alone.
CAN_SHARE_PORTS = hasattr(socket, "SO_REUSEPORT")


class ServeRefused(Exception):
    """`cashier serve` will not start (or could not): the message says why, in one line."""


def serve(settings: Settings) -> None:
    """`cashier serve`: check the ports, migrate once, then run one worker here or supervise N."""
    configure_logging(settings.logging.level, settings.logging.format)
    if settings.server.workers > 1 and not CAN_SHARE_PORTS:
        raise ServeRefused("--workers above 1 needs SO_REUSEPORT, which this platform lacks: use --workers 1")
    if not settings.server.share_ports:
        refuse_served_addresses(settings)
    engine = make_engine(settings.database.url, pool_size=1)
    migrate.upgrade(engine)
    engine.dispose()
    if settings.server.workers == 1:
        serve_one(settings, reuse_port=CAN_SHARE_PORTS, announce=True)
        return
    Supervisor(settings).run()


def refuse_served_addresses(settings: Settings) -> None:
    """Refuse an address something already listens on. Our own sockets carry SO_REUSEPORT, so a second
    server's bind would succeed beside the first: probe with a socket that does not ask to share, which
    Linux refuses while any socket listens there (SO_REUSEADDR still lets a restart in while the old
    server's connections linger in TIME_WAIT)."""
    for face, address in _listeners(settings).items():
        if split_address(address)[1] == 0:
            continue  # a free port is picked at bind time; the kernel never picks a shared one
        try:
            _bound(address, reuse_address=True, reuse_port=False).close()
        except OSError as exc:
            raise _refusal(face, address, exc) from None


def _refusal(face: str, address: str, exc: OSError) -> ServeRefused:
    if exc.errno == errno.EADDRINUSE:
        return ServeRefused(
            f"{address} is already in use ([server] {face}): is another cashier serve running there? "
            "Stop it, or pass --share-ports ([server] share_ports = true) to serve beside it")
    return ServeRefused(f"cannot listen on {address} ([server] {face}): {exc.strerror}")


def _listeners(settings: Settings) -> dict[str, str]:
    """The addresses a server listens on, by the setting that names them."""
    server = settings.server
    found = {"grpc": server.grpc, "http": server.http}
    if getattr(server, "ops", ""):  # the optional operations listener
        found["ops"] = server.ops
    return found


def serve_one(settings: Settings, *, reuse_port: bool, announce: bool,
              on_ready: Callable[[], None] | None = None) -> None:
    """Run one worker in this process until SIGTERM or SIGINT, then stop it gracefully."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running = start(settings, reuse_port=reuse_port, run_migrations=False)
    log.info("serving", extra={"grpc": running.grpc_target, "http": running.http_url, "pid": os.getpid(),
                               "channels": [c.name for c in running.gateway.channels]})
    if announce:
        print(f"cashier: gRPC on {running.grpc_target}, HTTP on {running.http_url}", flush=True)
    if on_ready is not None:
        on_ready()
    stopping.wait()
    log.info("shutting down: finishing in-flight calls", extra={"grace_seconds": settings.server.grace_seconds})
    running.stop()
    log.info("stopped")


# --- a worker process -------------------------------------------------------------------------------


def worker_main(settings_json: str, supervisor: Connection, supervisor_pid: int) -> None:
    """A worker's entry point (spawned): die with the supervisor, serve, say when ready."""
    settings = Settings.model_validate_json(settings_json)
    configure_logging(settings.logging.level, settings.logging.format)
    _die_with_parent(supervisor_pid)
    threading.Thread(target=_watch_supervisor, args=(supervisor, settings.server.grace_seconds),
                     name="supervisor-watch", daemon=True).start()

    def ready() -> None:
        try:
            supervisor.send(os.getpid())
        except OSError:
            pass  # the supervisor is gone: the watch stops this worker

    serve_one(settings, reuse_port=True, announce=False, on_ready=ready)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux for SIGTERM (a graceful stop) when the supervisor dies. The signal is tied to the thread
    that spawned this process: the supervisor spawns workers from its main thread only, which lives as
    long as it does. A supervisor that died before the request leaves us adopted already: leave now."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM),
                          ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        except (OSError, AttributeError) as exc:  # the pipe watch still stops this worker
            log.warning("cannot ask to die with the supervisor; relying on the pipe", extra={"error": str(exc)})
    if os.getppid() != parent_pid:
        raise SystemExit(1)


def _watch_supervisor(supervisor: Connection, grace_seconds: float) -> None:
    """The supervisor never writes to this pipe; end-of-file means it is gone (however it died). Stop
    gracefully like on SIGTERM, and leave for good if that takes longer than the grace allows."""
    try:
        while True:
            supervisor.recv()
    except (EOFError, OSError):
        pass
    log.warning("supervisor gone: stopping this worker", extra={"pid": os.getpid()})
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_seconds + STOP_MARGIN_SECONDS)
    os._exit(1)


# --- the supervisor ---------------------------------------------------------------------------------


class _Slot:
    """One of the N workers, through its successive processes."""

    def __init__(self, index: int):
        self.index = index
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None  # the supervisor's end of the worker's pipe
        self.started_at = 0.0
        self.ready = False
        self.delay = 0.0                      # the back-off the last replacement waited
        self.start_at: float | None = None    # when a replacement is due


class Supervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.ctx = multiprocessing.get_context("spawn")  # never fork a process that runs gRPC
        self.slots = [_Slot(i) for i in range(settings.server.workers)]
        self.stopping = threading.Event()

    def run(self) -> None:
        # Handlers first: a SIGTERM during start stops the workers started so far, gracefully.
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        # Reserve concrete ports (the addresses may say :0) and hold them while workers come and go, so
        # that every worker binds the same ports with SO_REUSEPORT. Not inherited by workers (spawned,
        # close-on-exec): they close when the supervisor dies.
        reserved = reserve_addresses(self.settings)
        self.settings = self.settings.model_copy(update={"server": self.settings.server.model_copy(update={
            name: _with_port(address, reserved[name].getsockname()[1])
            for name, address in _listeners(self.settings).items()})})
        metrics_dir = tempfile.mkdtemp(prefix="cashier-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # inherited by every worker spawned
        try:
            for slot in self.slots:
                self._spawn(slot)
            if self._start_all():
                print(f"cashier: gRPC on {self.settings.server.grpc}, HTTP on http://{self.settings.server.http}, "
                      f"{len(self.slots)} workers", flush=True)
                log.info("supervising", extra={"pid": os.getpid(), "workers": self._pids()})
                self._supervise()
        finally:
            self._stop_all()
            for sock in reserved.values():
                sock.close()
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def _spawn(self, slot: _Slot) -> None:
        ours, theirs = self.ctx.Pipe()
        process = self.ctx.Process(target=worker_main, name=f"cashier-worker-{slot.index}",
                                   args=(self.settings.model_dump_json(), theirs, os.getpid()))
        process.start()
        theirs.close()  # the worker holds the only other end: it reads end-of-file once we are gone
        slot.process, slot.conn = process, ours
        slot.started_at, slot.ready, slot.start_at = time.monotonic(), False, None

    def _start_all(self) -> bool:
        """Wait until every worker accepts calls, so that a client never meets a half-started fleet.
        A worker dying now is a fault of the set-up (configuration, database): give up, say so."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not all(slot.ready for slot in self.slots):
            if self.stopping.is_set():
                return False
            if time.monotonic() > deadline:
                raise ServeRefused(f"workers did not start within {START_TIMEOUT_SECONDS:.0f} s")
            self._wait(0.5)
            for slot in self.slots:
                if slot.process is not None and not slot.process.is_alive():
                    raise ServeRefused(f"a worker exited while starting ({_how(slot.process)}); see its log "
                                       "lines above")
        return True

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            due = [slot.start_at for slot in self.slots if slot.start_at is not None]
            self._wait(min([0.5, *(max(0.0, at - now) for at in due)]))
            if self.stopping.is_set():
                break  # e.g. Ctrl-C reached the workers too: they are stopping, not dying
            now = time.monotonic()
            for slot in self.slots:
                if slot.process is not None and not slot.process.is_alive():
                    self._schedule_replacement(slot, now)
                if slot.start_at is not None and slot.start_at <= now and not self.stopping.is_set():
                    self._spawn(slot)

    def _schedule_replacement(self, slot: _Slot, now: float) -> None:
        process = slot.process
        assert process is not None
        process.join()
        up = now - slot.started_at
        slot.delay = (RESTART_FIRST_SECONDS if slot.delay == 0 or up >= STABLE_AFTER_SECONDS
                      else min(slot.delay * 2, RESTART_MAX_SECONDS))
        slot.start_at = now + slot.delay
        code = process.exitcode
        log.warning("worker exited; starting another", extra={
            "worker_pid": process.pid, "exit_code": code if code is not None and code >= 0 else None,
            "exit_signal": _signal_name(-code) if code is not None and code < 0 else None,
            "up_seconds": round(up, 1), "restart_in_seconds": slot.delay})
        process.close()
        self._close_conn(slot)
        slot.process = None

    def _wait(self, timeout: float) -> None:
        """Sleep until a worker exits or says it is ready, or `timeout` passes. Signals interrupt the
        wait only at `timeout` (the call is resumed), hence the short timeouts of the callers."""
        conns = {slot.conn: slot for slot in self.slots if slot.conn is not None}
        sentinels = [slot.process.sentinel for slot in self.slots if slot.process is not None]
        for conn in wait([*conns, *sentinels], timeout):
            if isinstance(conn, Connection):
                slot = conns[conn]
                try:
                    conn.recv()  # the worker's pid: it accepts calls now
                    slot.ready = True
                except (EOFError, OSError):
                    self._close_conn(slot)  # it died; its sentinel says so too

    def _close_conn(self, slot: _Slot) -> None:
        if slot.conn is not None:
            slot.conn.close()
            slot.conn = None

    def _pids(self) -> list[int | None]:
        return [slot.process.pid for slot in self.slots if slot.process is not None]

    def _stop_all(self) -> None:
        """SIGTERM every worker (in-flight calls finish within grace_seconds), then wait; kill the late."""
        live = [slot.process for slot in self.slots if slot.process is not None and slot.process.is_alive()]
        for process in live:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.server.grace_seconds + STOP_MARGIN_SECONDS
        for process in live:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker did not stop in time; killing it", extra={"worker_pid": process.pid})
                process.kill()
                process.join(5)
        for slot in self.slots:
            self._close_conn(slot)


def reserve_addresses(settings: Settings) -> dict[str, socket.socket]:
    """Bound, not listening (no connection waits on them), with SO_REUSEPORT so that the workers bind
    beside them."""
    reserved: dict[str, socket.socket] = {}
    try:
        for name, address in _listeners(settings).items():
            try:
                reserved[name] = _reserve_one(address)
            except OSError as exc:  # e.g. held by a server that does not share (share_ports only asks)
                raise _refusal(name, address, exc) from None
    except BaseException:
        for held in reserved.values():
            held.close()
        raise
    return reserved


def _reserve_one(address: str) -> socket.socket:
    """Without SO_REUSEADDR first, so that another server's probe sees the address taken while our workers
    start. That bind also fails for 60 s after connections of a listener without SO_REUSEPORT (another
    program, an older cashier) closed, in TIME_WAIT: the probe passed, so take it with SO_REUSEADDR then."""
    try:
        return _bound(address, reuse_address=False, reuse_port=True)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    return _bound(address, reuse_address=True, reuse_port=True)


def _bound(address: str, *, reuse_address: bool, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to `address`, not listening; closed again if the bind fails."""
    host, port = split_address(address)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _with_port(address: str, port: int) -> str:
    host, _ = split_address(address)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _how(process: BaseProcess) -> str:
    code = process.exitcode
    return f"signal {_signal_name(-code)}" if code is not None and code < 0 else f"exit code {code}"
