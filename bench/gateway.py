"""The system under test: a real `cashier serve` subprocess on a fresh database, seeded with the CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procstat, tomlfile
from bench.payload import APP_ID, MERCHANT_ID
from gateway.storage.scratch import scratch_schema

ROOT = Path(__file__).resolve().parent.parent
# The test-only channel plugin lives beside the environment (see the Makefile); the gateway sees it
# through PYTHONPATH, as the tests' servers do.
TEST_PLUGINS = ROOT / ".venv" / "test-plugins"
PREFERRED_CHANNEL = "mobile"  # the real Alipay app channel, pinned whenever it is installed
START_TIMEOUT = 60.0


def cashier_command() -> list[str]:
    """The `cashier` script of this interpreter's environment (the one `make bench` runs in)."""
    beside = Path(sys.executable).with_name("cashier")
    found = str(beside) if beside.exists() else shutil.which("cashier")
    if found is None:
        raise RuntimeError("the `cashier` command is not installed: run `make bench` (pip install -e .)")
    return [found]


def gateway_env(database_url: str, source: Path | None = None) -> dict[str, str]:
    """The gateway's environment. Its code comes from `source` (a checkout of another commit, to compare two
    commits in one run of this bench) or else from this checkout; `source` must come first on the path,
    since this checkout's root is always on it too (for the test plugin's sake)."""
    env = dict(os.environ)
    env["CASHIER_DATABASE_URL"] = database_url
    env.pop("CASHIER_CONFIG", None)  # the bench always passes its own --config
    code = [str(_source_metadata(source)), str(source.resolve())] if source else []
    paths = [str(TEST_PLUGINS)] if TEST_PLUGINS.is_dir() else []
    env["PYTHONPATH"] = os.pathsep.join([*code, *paths, str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _source_metadata(source: Path) -> Path:
    """A directory holding distribution metadata for `source`: its own entry points (plugins, commands),
    which importlib.metadata finds before this environment's install of the package (the first distribution
    of a name on the path wins), so an older checkout never loads a plugin it does not have."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    lines: list[str] = []
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    for group, entries in groups.items():
        lines += [f"[{group}]", *(f"{name} = {target}" for name, target in entries.items()), ""]
    key = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]
    info = Path(tempfile.gettempdir()) / f"cashier-bench-source-{key}" / "unified_cashier-0.0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return info.parent


def gateway_source(env: dict[str, str]) -> dict[str, Any]:
    """Where the gateway started with `env` really takes its code from, and that checkout's commit (and
    whether it has uncommitted changes): recorded with every result, so a comparison of two commits can be
    checked rather than trusted."""
    found = subprocess.run([sys.executable, "-c", "import gateway; print(gateway.__file__)"], env=env,
                           cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=60, check=True)
    root = Path(found.stdout.strip()).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"path": str(root), "commit": git("rev-parse", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", "gateway", "channels"))}


@contextmanager
def fresh_database(kind: str, workdir: Path, postgres_url: str | None) -> Iterator[str]:
    """A SQLite file in `workdir`, or a new PostgreSQL schema dropped afterwards (as tests/support.py)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'cashier.db'}"
        return
    if not postgres_url:
        raise RuntimeError("--database postgres needs --database-url or CASHIER_TEST_DATABASE_URL")
    with scratch_schema(postgres_url, prefix="bench_") as url:
        yield url


def user_has_alipay(user_config: str | None) -> bool:
    if not user_config:
        return False
    with open(user_config, "rb") as fh:
        return "alipay" in tomllib.load(fh).get("channels", {})


def write_config(path: Path, user_config: str | None, pin: str | None,
                 alipay_table: dict[str, Any] | None = None) -> Path:
    """The user's configuration with logging at WARNING (so log I/O does not dominate), the local
    Alipay's `[channels.alipay]` table when the user gave none (so the real RSA2 signing path is what is
    measured), and, when asked, a first routing rule pinning one channel for every request."""
    data: dict[str, Any] = {}
    if user_config:
        with open(user_config, "rb") as fh:
            data = tomllib.load(fh)
    data.setdefault("logging", {})["level"] = "WARNING"
    if alipay_table is not None:
        data.setdefault("channels", {}).setdefault("alipay", alipay_table)
    if pin:
        routing = data.setdefault("routing", {})
        routing["rules"] = [{"name": "bench-pins-" + pin, "pin": pin}, *routing.get("rules", [])]
    path.write_text(tomlfile.dumps(data), encoding="utf-8")
    return path


def _cli(config: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*cashier_command(), "--config", str(config), *args], env=env, check=False,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"cashier {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout


def installed_channels(config: Path, env: dict[str, str]) -> list[str]:
    """Channel names from `cashier channels` (lines end in `channels: a, b`)."""
    names: list[str] = []
    for line in _cli(config, env, "channels").splitlines():
        _, sep, listed = line.rpartition("channels: ")
        if sep:
            names += [n.strip() for n in listed.split(",") if n.strip() and n.strip() != "-"]
    return names


def seed(config: Path, env: dict[str, str]) -> str:
    """An approved merchant, an app acting for it; returns the app's API key."""
    _cli(config, env, "merchants", "create", MERCHANT_ID, "--name", "Bench Shop")
    key = _cli(config, env, "apps", "create", APP_ID, "--name", "Bench App").strip().splitlines()[-1]
    _cli(config, env, "apps", "authorize", APP_ID, MERCHANT_ID)
    return key


@dataclass
class Server:
    """A server subprocess we started, and the gRPC address it announced."""

    process: subprocess.Popen[bytes]
    target: str
    announce: str = ""  # the whole line it printed (the gateway's also names its HTTP address)

    @property
    def http_address(self) -> str:
        """HOST:PORT of the HTTP face from `... HTTP on http://HOST:PORT...` ('' when not announced)."""
        _, sep, rest = self.announce.partition("HTTP on ")
        return rest.removeprefix("http://").split(",", 1)[0].strip().rstrip("/") if sep else ""

    def stop(self) -> None:
        procstat.stop_tree(self.process)


def start_server(command: list[str], env: dict[str, str] | None, log: Path) -> Server:
    """Start a server that prints `...: gRPC on HOST:PORT[, ...]` on stdout once it accepts calls.

    stderr goes to a file (not a pipe nobody reads, which would block a chatty server)."""
    with open(log, "wb") as err:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=err)
    try:
        assert process.stdout is not None
        line = _readline(process, START_TIMEOUT)
        if " on " not in line:
            raise RuntimeError(f"{command[0]} did not start (exit {process.poll()}):\n"
                               f"{line}{log.read_text(errors='replace')[-3000:]}")
        target = line.split(" on ", 1)[1].split(",", 1)[0].strip()
        return Server(process, target, line.strip())
    except BaseException:
        procstat.stop_tree(process)
        raise


def _readline(process: subprocess.Popen[bytes], timeout: float) -> str:
    # A thread-free timeout on the first line: select() on the pipe.
    import select

    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline().decode(errors="replace") if ready else ""


def gateway_command(config: Path, workers: int) -> list[str]:
    return [*cashier_command(), "--config", str(config), "serve",
            "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--workers", str(workers)]


def echo_command(threads: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "bench.echo", "--threads", str(threads), "--workers", str(workers)]
