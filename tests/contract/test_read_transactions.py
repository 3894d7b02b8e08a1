"""On PostgreSQL a read holds no transaction open: under READ COMMITTED every statement takes its own
snapshot anyway, so BEGIN … ROLLBACK around a read only cost two round trips and left the session
"idle in transaction" (holding back vacuum) while the service worked. Writes keep their transaction."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, make_url, text

from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.support import PG_URL_ENV, postgres_schema_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine() -> Iterator[Engine]:
    if not os.environ.get(PG_URL_ENV):
        pytest.skip(f"PostgreSQL not configured: set {PG_URL_ENV} (CI and `make test` in .ci/run do)")
    for url in postgres_schema_url():
        named = make_url(url).update_query_dict({"application_name": f"read-tx-{uuid.uuid4().hex[:12]}"})
        engine = make_engine(named.render_as_string(hide_password=False), pool_size=2)
        migrate.upgrade(engine)
        yield engine
        engine.dispose()


def _sessions_in_transaction(watcher: Engine, engine: Engine) -> int:
    """Sessions of `engine` (told apart by its application_name, so that tests running beside this one in
    other processes do not count) left idle in a transaction."""
    with watcher.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = :name AND state LIKE 'idle in transaction%'"),
            {"name": engine.url.query["application_name"]}).scalar_one())


def test_a_read_leaves_no_transaction_open_and_a_write_does(engine: Engine) -> None:
    uow = SqlUnitOfWorkFactory(engine)
    watcher = make_engine(str(engine.url.render_as_string(hide_password=False)), pool_size=1)
    try:
        with uow() as tx:
            assert tx.payments.get("shop-1", "pay_none") is None
            assert tx.merchants.get("shop-1") is None
            assert _sessions_in_transaction(watcher, engine) == 0
        with uow(write=True) as tx:
            assert tx.payments.get("shop-1", "pay_none") is None
            assert _sessions_in_transaction(watcher, engine) == 1  # the watcher sees what it should
    finally:
        watcher.dispose()
