"""Settlement's storage fixtures: a migrated database (SQLite and PostgreSQL, tests/conftest.py's
database_url) and the gateway's unit of work factory over it. The domain's tests use none of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.settlement.storage_support import migrated_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url) as engine:
        yield engine


@pytest.fixture
def uow(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)
