"""Shared row helpers of the repositories: the INSERT that lets the database decide races."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Insert
from sqlalchemy.dialects import postgresql, sqlite

_INSERT_IGNORE: dict[tuple[str, str], Insert] = {}


def insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was written. The database decides races."""
    name = conn.dialect.name
    stmt = _INSERT_IGNORE.get((name, table.name))
    if stmt is None:  # built once per dialect and table: no construct or cache key to build per call
        dialect = postgresql if name == "postgresql" else sqlite
        # RETURNING, not rowcount: drivers disagree on rowcount for a skipped row (psycopg reports -1).
        stmt = dialect.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
        _INSERT_IGNORE[(name, table.name)] = stmt
    return conn.execute(stmt, values).first() is not None
