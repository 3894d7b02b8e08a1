"""The README's first session, run exactly as written: a newcomer pastes the fenced shell block under
"A first session" into a fresh shell, in an empty folder, and ends with a paid payment.

The block is taken from README.md itself, so the README cannot drift from what works. It runs with
`bash -euo pipefail` (any failing command fails the test), on free ports, with the project's venv first on
PATH, in its own process group so that nothing it starts can outlive the test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support import ROOT

HEADING = "### A first session: from nothing to a paid payment"
TIMEOUT = 90


def session_block() -> str:
    """The first ```sh (or ```bash) block after HEADING in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    _, found, after = text.partition(HEADING + "\n")
    assert found, f"README.md has no line {HEADING!r}"
    match = re.search(r"^```(?:sh|bash)\n(.*?)^```$", after, re.S | re.M)
    assert match, f"no ```sh block after {HEADING!r} in README.md"
    return match.group(1)


def free_ports(count: int) -> list[int]:
    """Distinct ports free now (all bound at once, so none is handed out twice)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp
            members.append(int(entry))
    return members


def settled_group(pgid: int, seconds: float = 5.0) -> list[int]:
    """Members still there once processes already on their way out have had time to go."""
    deadline = time.monotonic() + seconds
    while (members := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return members


def session_env(tmp_path: Path) -> dict[str, str]:
    grpc_port, http_port, sandbox_port = free_ports(3)
    # A fresh shell: none of the developer's CASHIER_* settings (a database URL would override the block's).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHIER_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", HOME=str(tmp_path),
               GRPC_PORT=str(grpc_port), HTTP_PORT=str(http_port), SANDBOX_PORT=str(sandbox_port))
    return env


def logs(root: Path) -> str:
    """The tail of every log the session wrote (the sandbox's, the gateway's), for a failure's report."""
    return "\n".join(f"--- {p.relative_to(root)}:\n{p.read_text(errors='replace')[-4000:]}"
                     for p in sorted(root.rglob("*.log")))


@pytest.mark.timeout(TIMEOUT + 60)
def test_the_readme_session_ends_with_a_paid_payment_and_leaves_nothing_running(tmp_path: Path) -> None:
    block = session_block()
    shell = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=session_env(tmp_path),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    out = err = ""
    try:
        out, err = shell.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(shell.pid, signal.SIGKILL)
        out, err = shell.communicate()
        pytest.fail(f"the README session took over {TIMEOUT} s\nstdout:\n{out}\nstderr:\n{err}\n"
                    f"{logs(tmp_path)}")
    finally:
        left = settled_group(shell.pid)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    report = f"stdout:\n{out}\nstderr:\n{err}\n{logs(tmp_path)}"
    assert shell.returncode == 0, report
    last = out.strip().splitlines()[-1] if out.strip() else ""
    assert re.fullmatch(r"merchants/tea-house/payments/\S+ PAYMENT_STATE_SUCCEEDED", last), report
    assert left == [], f"the README session left processes running: {left}\n{report}"
