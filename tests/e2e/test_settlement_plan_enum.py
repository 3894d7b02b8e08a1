"""Issue 13 item 4: an unknown settlement plan number (999, the issue's reproduction, now sent to
MerchantService.SetSettlementPlan since CreateMerchant is gone) is INVALID_ARGUMENT naming `plan`, writes nothing."""

from __future__ import annotations

import pytest

from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from gateway.runtime import RunningGateway
from tests.e2e.rpc_walk import count_rows
from tests.e2e.test_bad_input import _invalid, _operator, _refused
from tests.support import Tenant


@pytest.mark.parametrize("plan", [999, -1])
def test_an_unknown_settlement_plan_number_is_refused_by_name(server: RunningGateway, tenant: Tenant, grpc_channel,  # type: ignore[no-untyped-def]
                                                              plan: int) -> None:
    merchants = msvc_grpc.MerchantServiceStub(grpc_channel)
    metadata = _operator(server)
    before = count_rows(server.gateway)
    err = _refused(merchants.SetSettlementPlan, msvc.SetSettlementPlanRequest(merchant=tenant.parent, plan=plan),
                   metadata=metadata)
    _invalid(err, "plan")
    assert count_rows(server.gateway) == before
