"""The load generator: client processes, each driving a fixed share of the in-flight calls for a fixed
window, recording every call's latency. The same code and settings run against echo and gateway.

Each client process opens `connections` gRPC channels, each its own HTTP/2 connection, and spreads its
calls over them in turn, so that with several server workers on one SO_REUSEPORT port the kernel has
enough connections to spread (with one connection per client, two clients' connections land on the same
worker half the time). Closed-loop load: at most `concurrency` calls are ever outstanding. Requests
and responses travel as bytes (no response parsing in the hot loop) so that the client does the same
work whichever server answers.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import grpc

from bench import procstat
from bench.payload import CREATE, Requests

CALL_TIMEOUT = 30.0
START_DELAY = 0.2  # between "all clients connected" and the shared start, so every client sees it first


@dataclass(frozen=True)
class LoadSettings:
    clients: int
    concurrency: int
    warmup: float
    duration: float
    connections: int = 4  # per client process

    def shares(self) -> list[int]:
        """In-flight calls per client process: the total split as evenly as possible."""
        base, extra = divmod(self.concurrency, self.clients)
        return [base + (1 if i < extra else 0) for i in range(self.clients)]


@dataclass
class ClientResult:
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    last_response: bytes = b""


@dataclass
class LoadResult:
    calls_per_second: float
    ok: int
    errors: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    server_cpu_cores: float  # CPU seconds used by the server processes per second of window
    client_cpu_cores: float  # the same for all load generator processes together
    client_cpu_max_process: float  # the busiest single generator process (1.0 = one full core)
    machine_busy: float  # share of all cores busy during the window (everything on the machine)
    last_response: bytes

    @property
    def client_cpu_share(self) -> float:
        total = self.server_cpu_cores + self.client_cpu_cores
        return self.client_cpu_cores / total if total else 0.0


def _client(target: str, metadata: tuple[tuple[str, str], ...], requests: Requests, index: int, in_flight: int,
            tag: str, warmup: float, duration: float, connections: int, ready: Any, start: Any, go: Any,
            out: Connection) -> None:
    with contextlib.ExitStack() as stack:
        # A local subchannel pool per channel: otherwise channels to one target share one connection.
        channels = [stack.enter_context(grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]))
                    for _ in range(max(1, min(connections, in_flight)))]
        for channel in channels:
            grpc.channel_ready_future(channel).result(timeout=30)
        # No (de)serializers: bytes in and out.
        calls: list[grpc.UnaryUnaryMultiCallable[bytes, bytes]] = [
            channel.unary_unary(requests.method) for channel in channels]
        ready.put(index)
        go.wait()
        measure_from = start.value + warmup
        measure_to = measure_from + duration
        result = ClientResult()
        # Completions come back on gRPC's own thread; they only queue the finished call, and this thread
        # records it and issues the next one, so nothing recurses and one thread keeps the GIL busy.
        done: queue.SimpleQueue[tuple[float, grpc.Future | None]] = queue.SimpleQueue()
        seq = 0

        def issue() -> None:
            nonlocal seq
            request = requests.build(tag, index, seq)
            call = calls[seq % len(calls)]
            seq += 1
            began = time.monotonic()
            future = call.future(request, metadata=metadata, timeout=CALL_TIMEOUT)
            future.add_done_callback(lambda f: done.put((began, f)))

        for _ in range(in_flight):
            issue()
        outstanding = in_flight
        while outstanding:
            began, future = done.get()
            ended = time.monotonic()
            outstanding -= 1
            if ended < measure_to:
                issue()
                outstanding += 1
            if not measure_from <= ended < measure_to:
                continue  # warm-up, or finished after the window closed
            assert future is not None
            err = future.exception()
            if err is not None:
                code = err.code() if isinstance(err, grpc.Call) else None
                result.errors[code.name if code else type(err).__name__] += 1
            else:
                result.ok += 1
                result.latencies.append(ended - began)
                result.last_response = future.result()
    results = [result]
    total = ClientResult()
    for r in results:
        total.ok += r.ok
        total.errors.update(r.errors)
        total.latencies.extend(r.latencies)
        total.last_response = r.last_response or total.last_response
    out.send((total.ok, dict(total.errors), total.latencies.tobytes(), total.last_response))
    out.close()


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000.0


def run_load(target: str, metadata: tuple[tuple[str, str], ...], settings: LoadSettings, server_pid: int,
             tag: str, requests: Requests = CREATE) -> LoadResult:
    """Drive `target` with the client processes sending `requests` (CreatePayment unless told otherwise);
    account the CPU of the clients and of the server's tree."""
    ctx = multiprocessing.get_context("spawn")  # never fork a process that has gRPC running
    ready: Any = ctx.Queue()
    start: Any = ctx.Value("d", 0.0)
    go = ctx.Event()
    pipes = [ctx.Pipe(duplex=False) for _ in settings.shares()]
    clients = [
        ctx.Process(target=_client, name=f"bench-client-{i}", daemon=True, args=(
            target, metadata, requests, i, share, tag, settings.warmup, settings.duration, settings.connections, ready,
            start, go, send))
        for i, (share, (_recv, send)) in enumerate(zip(settings.shares(), pipes))]
    window = run_window(clients, pipes, ready, start, go, settings, server_pid, f"load generator for {target}")
    return summarise(window, settings, last_response=next((a[3] for a in window.answers if a[3]), b""))


@dataclass
class Window:
    """What the client processes answered, and the CPU and machine samples around the measured window."""

    answers: list[Any]  # per client: (ok, errors, latencies as array bytes, extra)
    cpu_before: list[float]
    cpu_after: list[float]
    machine_before: Any
    machine_after: Any


def run_window(clients: list[Any], pipes: list[tuple[Connection, Connection]], ready: Any, start: Any, go: Any,
               settings: LoadSettings, server_pid: int, what: str) -> Window:
    """Start the clients, release them together, sample CPU at the window's edges, collect their answers;
    no client process outlives this. Shared by the gRPC and the HTTP (bench/notify.py) generators."""
    try:
        for c in clients:
            c.start()
        for _ in clients:
            try:
                ready.get(timeout=120)
            except queue.Empty:
                raise RuntimeError(f"{what} could not connect") from None
        start.value = time.monotonic() + START_DELAY
        go.set()
        measure_from = start.value + settings.warmup
        _sleep_until(measure_from)
        cpu_before = _cpu(clients, server_pid)
        machine_before = procstat.machine_sample()
        _sleep_until(measure_from + settings.duration)
        cpu_after = _cpu(clients, server_pid)
        machine_after = procstat.machine_sample()
        answers = [recv.recv() for recv, _send in pipes]
        for c in clients:
            c.join(10)
    finally:
        for c in clients:
            if c.is_alive():
                c.kill()
                c.join()
    return Window(answers, cpu_before, cpu_after, machine_before, machine_after)


def summarise(window: Window, settings: LoadSettings, last_response: bytes = b"") -> LoadResult:
    ok = sum(a[0] for a in window.answers)
    errors: Counter[str] = Counter()
    latencies = array("d")
    for answer in window.answers:
        errors.update(answer[1])
        latencies.frombytes(answer[2])
    ordered = sorted(latencies)
    client_deltas = [after - before for before, after in zip(window.cpu_before[1:], window.cpu_after[1:])]
    seconds = settings.duration
    return LoadResult(
        calls_per_second=ok / seconds,
        ok=ok,
        errors=dict(errors),
        p50_ms=_percentile(ordered, 0.50),
        p95_ms=_percentile(ordered, 0.95),
        p99_ms=_percentile(ordered, 0.99),
        server_cpu_cores=(window.cpu_after[0] - window.cpu_before[0]) / seconds,
        client_cpu_cores=sum(client_deltas) / seconds,
        client_cpu_max_process=max(client_deltas) / seconds,
        machine_busy=procstat.busy_share(window.machine_before, window.machine_after),
        last_response=last_response,
    )


def _cpu(clients: list[Any], server_pid: int) -> list[float]:
    """[server tree CPU seconds, client 0 CPU seconds, client 1 ...]."""
    return [procstat.tree_cpu_seconds(server_pid), *(procstat.process_cpu_seconds(c.pid) for c in clients)]


def _sleep_until(moment: float) -> None:
    while (left := moment - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))
