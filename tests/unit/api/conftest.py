"""Fixtures for the in-process API tests: a gateway on a SQLite database of its own, not served; the API
(inprocess.InProcessApi) in front of it; an app acting for one merchant; an operator."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.bootstrap import Gateway, bootstrap
from tests.support import Tenant, make_settings, seed_tenant
from tests.unit.api.inprocess import InProcessApi


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once: migrating takes ~0.6 s, copying the file a millisecond."""
    path = tmp_path_factory.mktemp("migrated") / "cashier.db"
    bootstrap(make_settings(f"sqlite:///{path}")).close()
    return path


@pytest.fixture
def gateway(migrated_database: Path, tmp_path: Path) -> Iterator[Gateway]:
    path = tmp_path / "cashier.db"
    shutil.copyfile(migrated_database, path)
    built = bootstrap(make_settings(f"sqlite:///{path}"), run_migrations=False)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def api(gateway: Gateway) -> InProcessApi:
    return InProcessApi(gateway)


@pytest.fixture
def tenant(gateway: Gateway) -> Tenant:
    return seed_tenant(gateway)


@pytest.fixture
def operator_key(gateway: Gateway) -> str:
    return gateway.admin.create_operator("ops-1").key
