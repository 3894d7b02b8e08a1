"""Authentication, operator separation and tenant isolation over a real gRPC connection."""

from __future__ import annotations

import time

import grpc
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from cashier.v1 import onboarding_pb2 as opb
from tests.support import CashierClient, error_details, seed_tenant


@pytest.mark.parametrize("metadata", [
    [],
    [("authorization", "Bearer ck_app_not-a-real-key")],
    [("authorization", "Basic dXNlcjpwYXNz")],
    [("authorization", "Bearer ")],
])
def test_missing_or_wrong_key_is_unauthenticated(client: CashierClient, metadata) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        client.stub.CreatePayment(client.request(), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "ck_app_not-a-real-key" not in err.value.details()


def test_an_app_never_sees_another_merchants_payments(server, client: CashierClient, grpc_channel) -> None:  # type: ignore[no-untyped-def]
    mine = client.create(out_trade_no="MINE-1")
    other = CashierClient(grpc_channel, seed_tenant(server.gateway, merchant_id="jeweller", app_id="app-2"))
    theirs = other.create(out_trade_no="THEIRS-1")

    for name in (theirs.name, theirs.name.replace("jeweller", "no-such-shop")):
        with pytest.raises(grpc.RpcError) as err:
            client.stub.GetPayment(svc.GetPaymentRequest(name=name), metadata=client.metadata())
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "THEIRS" not in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        client.stub.ClosePayment(svc.ClosePaymentRequest(name=theirs.name), metadata=client.metadata())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        client.stub.CreatePayment(client.request(parent="merchants/jeweller"), metadata=client.metadata())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        client.stub.ListPayments(svc.ListPaymentsRequest(parent="merchants/jeweller"), metadata=client.metadata())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    everything = client.stub.ListPayments(svc.ListPaymentsRequest(parent="merchants/-"), metadata=client.metadata())
    assert [p.name for p in everything.payments] == [mine.name]
    # A payment id of the other merchant placed under my merchant does not exist for me.
    forged = f"merchants/shop-1/payments/{theirs.name.rsplit('/', 1)[1]}"
    with pytest.raises(grpc.RpcError) as err:
        client.stub.GetPayment(svc.GetPaymentRequest(name=forged), metadata=client.metadata())
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_withdrawn_authorisation_takes_effect_within_the_cache_window(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    payment = client.create()
    server.gateway.admin.deauthorize_app("app-1", "shop-1")
    time.sleep(server.gateway.settings.auth.cache_seconds + 0.1)
    with pytest.raises(grpc.RpcError) as err:
        client.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=client.metadata())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_operator_credentials_are_separate(server, client: CashierClient, grpc_channel) -> None:  # type: ignore[no-untyped-def]
    operator_key = server.gateway.admin.create_operator("ops-1").key
    operators = msvc_grpc.MerchantServiceStub(grpc_channel)
    op_md = [("authorization", f"Bearer {operator_key}")]

    listed = operators.ListMerchants(msvc.ListMerchantsRequest(), metadata=op_md)
    assert [m.name for m in listed.merchants] == ["merchants/shop-1"]
    assert listed.merchants[0].collection_enabled

    # An app may call MerchantService for its own merchants only; the operators' methods refuse its key.
    with pytest.raises(grpc.RpcError) as err:
        operators.ListApplications(msvc.ListApplicationsRequest(), metadata=client.metadata())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_details(err.value)[1].reason == "WRONG_CREDENTIALS"
    with pytest.raises(grpc.RpcError) as err:
        client.stub.CreatePayment(client.request(), metadata=op_md)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    with pytest.raises(grpc.RpcError) as err:
        operators.SubmitApplication(msvc.SubmitApplicationRequest(application=opb.Application(
            merchant_id="Bad Id!", display_name="")), metadata=op_md)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"application.merchant_id", "application.display_name"} <= set(error_details(err.value)[0])
