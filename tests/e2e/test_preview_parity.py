"""PreviewRoute shows what CreatePayment would do: for the fields they share (parent, amount, currency_code,
client, scenario, scan_to_pay) and for the merchant, the preview refuses exactly what creation refuses, with
the same status code, ErrorInfo reason and BadRequest field violations; otherwise it shows the route and its
trace, and creation takes that route. Over real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from gateway.domain.merchants import MerchantState
from gateway.runtime import RunningGateway
from tests.support import CashierClient

APP = pb.Client(platform=pb.PLATFORM_IOS_APP, app_name="Platform", app_version="9.2.0")
SHARED = ("parent", "amount", "currency_code", "client", "scenario", "scan_to_pay")


def answer(call: Any) -> tuple[str, str, list[tuple[str, str]]]:
    """(status code, ErrorInfo reason, BadRequest field violations in order) of a call; OK when it succeeded."""
    try:
        call()
    except grpc.RpcError as err:
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
        reason, violations = "", []
        for detail in status.details if status else ():
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = [(v.field, v.description) for v in bad.field_violations]
        return err.code().name, reason, violations
    return "OK", "", []


def both(app: CashierClient, **shared: Any) -> tuple[tuple[str, str, list[tuple[str, str]]], ...]:
    """The answers of PreviewRoute and of CreatePayment to the same shared fields (creation's own fields valid)."""
    fields = {"parent": app.tenant.parent, "amount": 2590, "currency_code": "CNY", "client": APP,
              "scenario": pb.SCENARIO_POST_PRODUCT_CARD, **shared}
    preview = answer(lambda: app.stub.PreviewRoute(svc.PreviewRouteRequest(**fields), metadata=app.metadata()))
    create = answer(lambda: app.stub.CreatePayment(app.request(**fields), metadata=app.metadata()))
    return preview, create


BAD_INPUT = {
    "emoji app_version": {"client": pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="🍵")},
    "10 KB user_agent": {"client": pb.Client(platform=pb.PLATFORM_PC_BROWSER, user_agent="u" * 10240)},
    "1500-character user_agent": {"client": pb.Client(platform=pb.PLATFORM_PC_BROWSER, user_agent="u" * 1500)},
    "long app_name": {"client": pb.Client(platform=pb.PLATFORM_ANDROID_APP, app_name="n" * 65, app_version="9.0")},
    "no platform": {"client": pb.Client(app_version="9.0")},
    "amount and currency": {"amount": 0, "currency_code": "USD"},
    "unknown scenario": {"scenario": 999},
    "upper-case merchant": {"parent": "merchants/TEA-HOUSE"},
    "everything at once": {"parent": "shops/1", "amount": -1, "currency_code": "",
                           "client": pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="v9", user_agent="u" * 1025)},
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_gets_the_same_refusal_from_preview_and_create(client: CashierClient, case: str) -> None:
    preview, create = both(client, **BAD_INPUT[case])
    assert create[0] == "INVALID_ARGUMENT", create
    assert preview == create


def test_merchant_that_cannot_collect_gets_the_same_refusal(server: RunningGateway, client: CashierClient) -> None:
    admin = server.gateway.admin
    admin.update_merchant("shop-1", state=MerchantState.UNDER_REVIEW)
    preview, create = both(client)
    assert create[:2] == ("FAILED_PRECONDITION", "MERCHANT_NOT_APPROVED")
    assert preview == create
    admin.update_merchant("shop-1", state=MerchantState.APPROVED, settlement_account_verified=False)
    preview, create = both(client)
    assert create[:2] == ("FAILED_PRECONDITION", "SETTLEMENT_ACCOUNT_NOT_VERIFIED")
    assert preview == create
    # Bad input is named before the merchant is looked at, by both.
    preview, create = both(client, client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="🍵"))
    assert create[0] == "INVALID_ARGUMENT" and preview == create


def test_a_merchant_the_app_does_not_act_for_gets_the_same_refusal(client: CashierClient) -> None:
    preview, create = both(client, parent="merchants/someone-else")
    assert create[:2] == ("PERMISSION_DENIED", "MERCHANT_NOT_AUTHORIZED")
    assert preview == create


@pytest.mark.parametrize("buyer", [
    APP,
    pb.Client(platform=pb.PLATFORM_ANDROID_APP, app_version="7.9"),
    pb.Client(platform=pb.PLATFORM_PC_BROWSER, user_agent="Mozilla/5.0"),
])
def test_otherwise_preview_shows_the_route_that_create_takes(client: CashierClient, buyer: pb.Client) -> None:
    preview = client.stub.PreviewRoute(svc.PreviewRouteRequest(
        parent=client.tenant.parent, amount=2590, currency_code="CNY", client=buyer,
        scenario=pb.SCENARIO_SHOP_HOME), metadata=client.metadata())
    assert preview.channel and [c.channel for c in preview.candidates if c.chosen] == [preview.channel]
    created = client.create(client=buyer, scenario=pb.SCENARIO_SHOP_HOME)
    assert created.channel == preview.channel
