"""`cashier serve --workers N` owns its workers: they die with it, a dead one is replaced (with back-off,
logged), and a second server on ports already served refuses to start unless asked to share them.
Real `cashier serve` processes, signals and /proc; loopback only."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cashier.v1 import payment_pb2 as pb
from gateway.runtime import listening_socket
from gateway.supervisor import ServeRefused, refuse_served_addresses, reserve_addresses
from tests.support import CashierClient, ServeProcess, Tenant, cashier_cli, make_settings, seed_with_cli

# Generous on a shared 2-core machine; the figures printed show what it really took.
WORKERS_GONE_WITHIN = 10.0
REPLACED_WITHIN = 30.0


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # an unreaped zombie serves nothing


def children(pid: int) -> set[int]:
    """Live child processes of `pid` (this kernel has no /proc/<pid>/task/*/children, so scan)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pid and stat[0] not in ("Z", "X"):
                found.add(int(entry))
    return found


def worker_pids(serve: ServeProcess) -> set[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    pids = set()
    for pid in children(serve.proc.pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.add(pid)
        except FileNotFoundError:
            pass
    return pids


def wait_for(condition: Callable[[], object], within: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def serving_pids(serve: ServeProcess) -> set[int]:
    return {e["pid"] for e in serve.log_entries() if e.get("msg") == "serving"}


@pytest.fixture
def seeded(database_url: str) -> Tenant:
    return seed_with_cli(database_url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cashier.db"


@pytest.fixture
def reap() -> Iterator[set[int]]:
    """Worker pids to SIGKILL afterwards if they outlived the test (the orphans this module is about)."""
    pids: set[int] = set()
    yield pids
    kill_orphans(pids)


def kill_orphans(pids: set[int]) -> None:
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def kill_all(serve: ServeProcess, workers: set[int]) -> None:
    """SIGKILL the supervisor, then whichever of its workers outlived it: they hold its stderr pipe, and
    ServeProcess.kill() would wait for that pipe's end."""
    if serve.proc.poll() is None:
        serve.proc.kill()
        serve.proc.wait(10)
    kill_orphans(workers)
    serve.kill()


def create_payment(target: str, tenant: Tenant) -> None:
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        assert CashierClient(channel, tenant).create().state == pb.PAYMENT_STATE_PENDING


def answers_health_checks(grpc_addr: str, http_addr: str) -> None:
    with grpc.insecure_channel(grpc_addr) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert check.status == health_pb2.HealthCheckResponse.SERVING
    assert httpx.get(f"http://{http_addr}/healthz", timeout=10).status_code == 200


def test_workers_die_with_a_killed_supervisor_and_free_the_ports(sqlite_url: str, reap: set[int]) -> None:
    # The database plays no part here: SQLite only.
    first = ServeProcess(sqlite_url, "--workers", "2")
    try:
        workers = worker_pids(first)
        reap.update(workers)
        assert len(workers) == 2
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        took = wait_for(lambda: not any(alive(pid) for pid in workers), WORKERS_GONE_WITHIN,
                        f"workers {workers} exit after their supervisor was killed")
        print(f"workers gone {took:.2f} s after SIGKILL of the supervisor")
    finally:
        kill_all(first, reap)
    # Nobody holds the ports any more: a new server takes them without being asked to share.
    grpc_addr, http_addr = first.grpc_target, first.http_url.removeprefix("http://")
    second = ServeProcess(sqlite_url, "--grpc", grpc_addr, "--http", http_addr)
    try:
        answers_health_checks(grpc_addr, http_addr)
        assert second.terminate() == 0
    finally:
        second.kill()


def test_a_dead_worker_is_replaced_with_back_off_and_logged(
        database_url: str, seeded: Tenant, reap: set[int]) -> None:
    serve = ServeProcess(database_url, "--workers", "2")
    try:
        original = worker_pids(serve)
        reap.update(original)
        assert len(original) == 2
        delays = []
        victim = min(original)
        for _ in range(2):  # the worker, then its replacement, which had no time to prove itself
            before = worker_pids(serve)
            os.kill(victim, signal.SIGKILL)

            def replaced(before: set[int] = before) -> bool:
                new = worker_pids(serve) - before
                return len(new) == 1 and new <= serving_pids(serve)

            took = wait_for(replaced, REPLACED_WITHIN, f"worker {victim} replaced and serving")
            exited = [e for e in serve.log_entries() if e.get("msg") == "worker exited; starting another"]
            assert [e["worker_pid"] for e in exited][-1:] == [victim], "no log line for the dead worker"
            assert exited[-1]["exit_signal"] == "SIGKILL" and exited[-1]["exit_code"] is None
            delays.append(exited[-1]["restart_in_seconds"])
            (victim,) = worker_pids(serve) - before
            reap.add(victim)
            print(f"worker replaced and serving {took:.2f} s after SIGKILL (back-off {delays[-1]} s)")
        assert delays == [1.0, 2.0]  # doubling while replacements keep dying young
        assert len(worker_pids(serve)) == 2
        create_payment(serve.grpc_target, seeded)
        assert serve.terminate() == 0  # and the supervisor still stops its (new) workers gracefully
        assert not any(alive(pid) for pid in reap)
    finally:
        kill_all(serve, reap)


def test_a_second_server_on_ports_already_served_refuses_to_start(sqlite_url: str, reap: set[int]) -> None:
    first = ServeProcess(sqlite_url, "--workers", "2")
    try:
        workers = worker_pids(first)
        reap.update(workers)
        grpc_addr, http_addr = first.grpc_target, first.http_url.removeprefix("http://")
        for args, taken in (
            (("--grpc", grpc_addr, "--http", http_addr), grpc_addr),  # one process, both addresses
            # a supervisor, whose SO_REUSEPORT binds alone would succeed beside the first server
            (("--grpc", "127.0.0.1:0", "--http", http_addr, "--workers", "2"), http_addr),
        ):
            started = time.monotonic()
            refused = cashier_cli("serve", *args, database_url=sqlite_url, check=False)
            print(f"refused in {time.monotonic() - started:.2f} s: {refused.stderr.strip()}")
            assert refused.returncode != 0, refused.stdout
            assert f"{taken} is already in use" in refused.stderr
            assert "--share-ports" in refused.stderr
            assert "Traceback" not in refused.stderr
        assert worker_pids(first) == workers  # untouched, and still serving
        answers_health_checks(grpc_addr, http_addr)
        assert first.terminate() == 0
    finally:
        kill_all(first, reap)


def test_sharing_ports_when_asked_to(sqlite_url: str, reap: set[int]) -> None:
    first = ServeProcess(sqlite_url)
    try:
        grpc_addr, http_addr = first.grpc_target, first.http_url.removeprefix("http://")
        second = ServeProcess(sqlite_url, "--grpc", grpc_addr, "--http", http_addr, "--workers", "2",
                              "--share-ports")
        try:
            reap.update(worker_pids(second))
            assert (second.grpc_target, second.http_url) == (first.grpc_target, first.http_url)
            # e.g. a rolling restart: the old server stops, the new one goes on serving the same ports
            assert first.terminate() == 0
            answers_health_checks(grpc_addr, http_addr)
            assert second.terminate() == 0
        finally:
            kill_all(second, reap)
    finally:
        first.kill()


def test_a_starting_supervisor_already_holds_its_addresses() -> None:
    """While its workers start (seconds), a supervisor holds the addresses only through its reservations,
    and another server's probe must see them taken then too."""
    settings = make_settings("sqlite://", server={"workers": 2})
    reserved = reserve_addresses(settings)
    try:
        bound = settings.model_copy(update={"server": settings.server.model_copy(update={
            name: f"127.0.0.1:{sock.getsockname()[1]}" for name, sock in reserved.items()})})
        with pytest.raises(ServeRefused, match=f"{bound.server.grpc} is already in use"):
            refuse_served_addresses(bound)
    finally:
        for sock in reserved.values():
            sock.close()
    refuse_served_addresses(bound)  # and free again once they close


def test_an_old_connection_in_time_wait_does_not_keep_a_supervisor_out() -> None:
    """A restart soon after a server closed connections (TIME_WAIT, 60 s), that server listening with
    SO_REUSEPORT or (another program, an older cashier) without."""
    for shared in (True, False):
        listener = listening_socket("127.0.0.1:0", reuse_port=shared)
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        accepted, _ = listener.accept()
        accepted.close()  # the server's side closes first: its port keeps a TIME_WAIT entry
        client.recv(1)
        client.close()
        listener.close()
        settings = make_settings("sqlite://", server={"workers": 2, "grpc": f"127.0.0.1:{port}"})
        refuse_served_addresses(settings)
        for sock in reserve_addresses(settings).values():
            sock.close()
