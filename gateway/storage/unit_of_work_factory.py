"""Hands out units of work: write ones group-committed on SQLite (group_commit.py), the others plain
(unit_of_work.py). Kept apart from both so that neither imports the other back."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from gateway.storage.group_commit import GroupCommit
from gateway.storage.unit_of_work import SqlUnitOfWork


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine, *, group_commit: bool = True):
        self.engine = engine
        # SQLite: the write transactions of this process share one connection and are committed in
        # groups, one COMMIT (one fsync) for all the callers queued at that moment (group_commit.py).
        self._group: GroupCommit | None = None
        if group_commit and engine.dialect.name == "sqlite":
            self._group = GroupCommit(engine)
        # SQLite has one writer at a time. Threads of this process queue on a Python lock, which wakes
        # the next writer at once; left to SQLite's busy handler they would sleep in growing steps
        # (up to 100 ms), which is what made p99 latency explode under load. Other processes still
        # meet the busy handler, but only one thread per process at a time.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    def __call__(self, *, write: bool = False) -> SqlUnitOfWork:
        if write and self._group is not None:
            return self._group.unit_of_work()
        return SqlUnitOfWork(self.engine, write, self._write_lock)
