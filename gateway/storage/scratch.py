"""Throwaway PostgreSQL schemas, for the tests and the benchmarks: each run gets a fresh, empty schema
in the configured database (through search_path), dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text


@contextmanager
def scratch_schema(base_url: str, prefix: str = "t_") -> Iterator[str]:
    """Yield a URL like base_url whose connections see only a new schema; drop it on exit."""
    schema = prefix + uuid.uuid4().hex[:12]
    engine = create_engine(base_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base_url else "?"
        try:
            yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()
