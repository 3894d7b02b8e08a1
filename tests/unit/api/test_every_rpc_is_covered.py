"""A new RPC is tested here too: every method of both services (CashierService, MerchantService) is named by
one of this directory's test modules (their module-level method descriptors)."""

from __future__ import annotations

from google.protobuf.descriptor import MethodDescriptor

from tests.unit.api import test_cashier_service, test_merchant_reads, test_merchant_service
from tests.unit.api.inprocess import CASHIER, MERCHANTS


def test_every_rpc_of_both_services_has_servicer_tests() -> None:
    tested = {value.full_name for module in (test_cashier_service, test_merchant_service, test_merchant_reads)
              for value in vars(module).values() if isinstance(value, MethodDescriptor)}
    declared = {m.full_name for service in (CASHIER, MERCHANTS) for m in service.methods}
    assert declared - tested == set()
