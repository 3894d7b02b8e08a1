"""The onboarding service over a real database (SQLite file or PostgreSQL schema, migrated), with a stand-in
for Alipay's transfer: the one port these unit tests may fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.service.admin import AdminService
from gateway.service.onboarding import OnboardingService
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.onboarding_support import AlipayStandIn, Clock

OPERATOR = Actor(ActorKind.OPERATOR, "ops-1")
APPLICANT = Actor(ActorKind.APPLICANT, "acct-1001", via="mgmt-centre")


@pytest.fixture
def factory(database_url: str) -> Iterator[SqlUnitOfWorkFactory]:
    engine = make_engine(database_url, pool_size=8)
    migrate.upgrade(engine)
    try:
        yield SqlUnitOfWorkFactory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def alipay() -> AlipayStandIn:
    return AlipayStandIn()


def make_service(factory: Any, alipay: AlipayStandIn, clock: Clock, **options: Any) -> OnboardingService:
    return OnboardingService(factory, alipay, clock=clock, **options)


@pytest.fixture
def service(factory: SqlUnitOfWorkFactory, alipay: AlipayStandIn, clock: Clock) -> OnboardingService:
    return make_service(factory, alipay, clock)


@pytest.fixture
def admin(factory: SqlUnitOfWorkFactory, clock: Clock) -> AdminService:
    return AdminService(factory, clock=clock)
