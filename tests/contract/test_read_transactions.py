"""On PostgreSQL a read holds no transaction open: under READ COMMITTED every statement takes its own
snapshot anyway, so BEGIN … ROLLBACK around a read only cost two round trips and left the session
"idle in transaction" (holding back vacuum) while the service worked. Writes keep their transaction."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.support import PG_URL_ENV, postgres_schema_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine() -> Iterator[Engine]:
    if not os.environ.get(PG_URL_ENV):
        pytest.skip(f"PostgreSQL not configured: set {PG_URL_ENV} (CI and `make test` in .ci/run do)")
    for url in postgres_schema_url():
        engine = make_engine(url, pool_size=2)
        migrate.upgrade(engine)
        yield engine
        engine.dispose()


def _sessions_in_transaction(watcher: Engine) -> int:
    with watcher.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")).scalar_one())


def test_a_read_leaves_no_transaction_open_and_a_write_does(engine: Engine) -> None:
    uow = SqlUnitOfWorkFactory(engine)
    watcher = make_engine(str(engine.url.render_as_string(hide_password=False)), pool_size=1)
    try:
        with uow() as tx:
            assert tx.payments.get("shop-1", "pay_none") is None
            assert tx.merchants.get("shop-1") is None
            assert _sessions_in_transaction(watcher) == 0
        with uow(write=True) as tx:
            assert tx.payments.get("shop-1", "pay_none") is None
            assert _sessions_in_transaction(watcher) == 1  # the watcher sees what it should
    finally:
        watcher.dispose()
