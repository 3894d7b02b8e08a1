"""CPU accounting from /proc (Linux), so that the bench can tell who used the CPU without psutil."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses; everything after the last ')' is safe.
    return text[text.rindex(")") + 2:].split()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads); 0 when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, grandchildren...), found by scanning /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents[int(entry)] = int(fields[1])  # ppid
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a server and the worker processes it spawned."""
    return sum(process_cpu_seconds(p) for p in (pid, *descendants(pid)))


@dataclass(frozen=True)
class MachineSample:
    busy: float
    total: float


def machine_sample() -> MachineSample:
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return MachineSample(total - idle, total)


def busy_share(before: MachineSample, after: MachineSample) -> float:
    total = after.total - before.total
    return (after.busy - before.busy) / total if total else 0.0


def stop_tree(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM a server we started (it stops its own workers), then SIGKILL whatever is left of it."""
    tree = [proc.pid, *descendants(proc.pid)]
    if proc.poll() is None:
        proc.terminate()
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (proc.poll() is None or any(_alive(p) for p in tree[1:])):
        time.sleep(0.05)
    for pid in tree:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.wait()


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"  # a zombie has stopped; its parent reaps it


def listening_sockets(port: int) -> int:
    """How many sockets listen on a local TCP port (one per worker once every worker is up)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                count += 1
    return count


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of one process in MiB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0.0


def tree_peak_rss_mb(pid: int) -> dict[int, float]:
    """Peak RSS of a server and of every process below it (its workers), by pid."""
    return {p: peak_rss_mb(p) for p in (pid, *descendants(pid))}


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""
