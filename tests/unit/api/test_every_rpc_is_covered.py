"""A new RPC is tested here too: every method of every service (CashierService, MerchantService,
SettlementService) is named by one of this directory's test modules (their module-level method descriptors)."""

from __future__ import annotations

from google.protobuf.descriptor import MethodDescriptor

from gateway.api.server import SERVICE_NAMES
from tests.unit.api import (
    test_cashier_service,
    test_merchant_reads,
    test_merchant_service,
    test_settlement_service,
)
from tests.unit.api.inprocess import CASHIER, MERCHANTS, SETTLEMENT

MODULES = (test_cashier_service, test_merchant_service, test_merchant_reads, test_settlement_service)


def test_every_rpc_of_every_service_has_servicer_tests() -> None:
    tested = {value.full_name for module in MODULES
              for value in vars(module).values() if isinstance(value, MethodDescriptor)}
    declared = {m.full_name for service in (CASHIER, MERCHANTS, SETTLEMENT) for m in service.methods}
    assert declared - tested == set()


def test_every_served_service_is_walked_here() -> None:
    # A service added to the server without its in-process tests would slip past the check above.
    assert set(SERVICE_NAMES) == {s.full_name for s in (CASHIER, MERCHANTS, SETTLEMENT)}
