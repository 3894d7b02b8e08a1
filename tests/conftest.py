"""Fixtures: one per real dependency. Every test gets a fresh database (SQLite file or PostgreSQL
schema), a fresh plugin manager and a gateway on port 0."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import settings

from gateway.runtime import RunningGateway, start
from tests.support import (
    PG_URL_ENV,
    ROOT,
    CashierClient,
    Tenant,
    make_settings,
    postgres_schema_url,
    seed_tenant,
)

# Property tests run a bounded count in `make test` (the suite's time budget); `pytest
# --hypothesis-profile=long` runs each property 10,000 times (recorded in the session notes); `soak` runs 400,
# for the slow machines whose examples each cost a database, a gateway and the sandbox (the live settlement
# machine: ~5 s an example, so 400 take about 40 minutes per database where long would take 15 hours).
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("soak", max_examples=400, deadline=None)
settings.register_profile("long", max_examples=10_000, deadline=None)
settings.load_profile("ci")

# The test-only channel plugin is installed beside the environment (see the Makefile), so that only the
# tests, and the servers they start, find its entry point.
TEST_PLUGINS = ROOT / ".venv" / "test-plugins"
if not (TEST_PLUGINS / "cashier_test_channels").is_dir():
    raise RuntimeError(f"{TEST_PLUGINS} is missing: run the tests with `make test`")
sys.path.insert(0, str(TEST_PLUGINS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TEST_PLUGINS), str(ROOT), os.environ.get("PYTHONPATH")]))


def pytest_report_header() -> str:
    url = os.environ.get(PG_URL_ENV)
    return f"PostgreSQL tests: {'on ' + url if url else 'SKIPPED (set ' + PG_URL_ENV + ')'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/cashier.db"
        return
    if not os.environ.get(PG_URL_ENV):
        pytest.skip(f"PostgreSQL not configured: set {PG_URL_ENV} (CI and `make test` in .ci/run do)")
    yield from postgres_schema_url()


@pytest.fixture
def server(database_url: str) -> Iterator[RunningGateway]:
    running = start(make_settings(database_url), housekeeping=False)
    try:
        yield running
    finally:
        running.stop(0.5)


@pytest.fixture
def tenant(server: RunningGateway) -> Tenant:
    return seed_tenant(server.gateway)


@pytest.fixture
def grpc_channel(server: RunningGateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield channel


@pytest.fixture
def client(grpc_channel: grpc.Channel, tenant: Tenant) -> CashierClient:
    return CashierClient(grpc_channel, tenant)
