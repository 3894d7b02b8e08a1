"""OperatorService in process (see inprocess.py for the layer): decoding, field errors in order, status and
ErrorInfo, the idempotency-key, and who may call it."""

from __future__ import annotations

import grpc

from cashier.v1 import merchant_pb2 as mpb
from cashier.v1 import operator_service_pb2 as ops
from tests.support import Tenant
from tests.unit.api.inprocess import OPERATOR, InProcessApi, invalid, method, refused

CREATE = method(OPERATOR, "CreateMerchant")
GET = method(OPERATOR, "GetMerchant")
LIST = method(OPERATOR, "ListMerchants")


def create_request(merchant_id: str = "tea-house", **merchant: object) -> ops.CreateMerchantRequest:
    values: dict[str, object] = {"display_name": "Tea House"}
    values.update(merchant)
    return ops.CreateMerchantRequest(merchant_id=merchant_id, merchant=mpb.Merchant(**values))  # type: ignore[arg-type]


def test_create_merchant_decodes_every_field(api: InProcessApi, operator_key: str) -> None:
    merchant = api.call(CREATE, create_request(
        display_name="Tea House 茶", business_category="food", state=mpb.MERCHANT_STATE_APPROVED,
        collection_enabled=True, settlement_plan=mpb.SETTLEMENT_PLAN_T0), operator_key).response.merchant
    assert (merchant.name, merchant.display_name, merchant.business_category) == (
        "merchants/tea-house", "Tea House 茶", "food")
    assert (merchant.state, merchant.settlement_plan) == (mpb.MERCHANT_STATE_APPROVED, mpb.SETTLEMENT_PLAN_T0)
    assert merchant.collection_enabled and merchant.create_time.seconds > 0
    got = api.call(GET, ops.GetMerchantRequest(name="merchants/tea-house"), operator_key).response.merchant
    assert got == merchant


def test_create_merchant_defaults(api: InProcessApi, operator_key: str) -> None:
    """Unset enums and category: a SUBMITTED merchant in category "general" on T+15, not yet collecting."""
    merchant = api.call(CREATE, create_request(), operator_key).response.merchant
    assert (merchant.state, merchant.business_category, merchant.settlement_plan) == (
        mpb.MERCHANT_STATE_SUBMITTED, "general", mpb.SETTLEMENT_PLAN_T15)
    assert not merchant.collection_enabled


def test_create_merchant_names_every_wrong_field_in_order(api: InProcessApi, operator_key: str) -> None:
    answer = api.call(CREATE, create_request("Tea House", display_name=" ", business_category="c" * 65),
                      operator_key)
    assert invalid(answer) == ["merchant_id", "merchant.display_name", "merchant.business_category"]
    # request_checks first: an undeclared enum number or a control character never reaches the servicer.
    checked = api.call(CREATE, create_request("Tea House", display_name="bad\x07", state=9), operator_key)
    assert invalid(checked) == ["merchant.display_name", "merchant.state"]
    listed = api.call(LIST, ops.ListMerchantsRequest(), operator_key).response
    assert list(listed.merchants) == []


def test_create_merchant_refusals_and_idempotency_key(api: InProcessApi, operator_key: str) -> None:
    key = [("idempotency-key", "onboard-1")]
    first = api.call(CREATE, create_request(), operator_key, key).response
    assert api.call(CREATE, create_request(), operator_key, key).response == first
    exists = refused(api.call(CREATE, create_request(), operator_key), grpc.StatusCode.ALREADY_EXISTS,
                     "MERCHANT_EXISTS")
    assert dict(exists.info.metadata) == {"merchant": "tea-house"}  # type: ignore[union-attr]
    reused = refused(api.call(CREATE, create_request("other-house"), operator_key, key),
                     grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    assert dict(reused.info.metadata)["method"] == "cashier.v1.OperatorService.CreateMerchant"  # type: ignore[union-attr]
    assert invalid(api.call(CREATE, create_request("third-house"), operator_key,
                            [("idempotency-key", "x" * 256)])) == ["idempotency-key"]


def test_an_app_key_cannot_call_the_operator_service(api: InProcessApi, tenant: Tenant) -> None:
    for rpc, request in [(CREATE, create_request()), (GET, ops.GetMerchantRequest(name=tenant.parent)),
                         (LIST, ops.ListMerchantsRequest())]:
        answer = refused(api.call(rpc, request, tenant.key), grpc.StatusCode.PERMISSION_DENIED, "WRONG_CREDENTIALS")
        assert "needs operator credentials" in answer.details
    refused(api.call(LIST, ops.ListMerchantsRequest(), None), grpc.StatusCode.UNAUTHENTICATED,
            "MISSING_CREDENTIALS")


def test_get_merchant_decodes_its_name(api: InProcessApi, operator_key: str, tenant: Tenant) -> None:
    got = api.call(GET, ops.GetMerchantRequest(name=tenant.parent), operator_key).response.merchant
    assert (got.name, got.display_name, got.state) == ("merchants/shop-1", "Tea House", mpb.MERCHANT_STATE_APPROVED)
    for name in ["", "shop-1", "merchants/", "merchants/-", "merchants/Shop-1", "merchants/shop-1/payments/p"]:
        assert invalid(api.call(GET, ops.GetMerchantRequest(name=name), operator_key)) == ["name"], name
    missing = refused(api.call(GET, ops.GetMerchantRequest(name="merchants/no-such-shop"), operator_key),
                      grpc.StatusCode.NOT_FOUND, "MERCHANT_NOT_FOUND")
    assert "no-such-shop" in missing.details


def test_list_merchants_pages(api: InProcessApi, operator_key: str) -> None:
    for n in range(3):
        api.call(CREATE, create_request(f"house-{n}"), operator_key)
    names, token = [], ""
    while True:
        page = api.call(LIST, ops.ListMerchantsRequest(page_size=2, page_token=token), operator_key).response
        names += [m.name for m in page.merchants]
        token = page.next_page_token
        if not token:
            break
    assert names == ["merchants/house-0", "merchants/house-1", "merchants/house-2"]
    assert invalid(api.call(LIST, ops.ListMerchantsRequest(page_size=-1), operator_key)) == ["page_size"]
    assert invalid(api.call(LIST, ops.ListMerchantsRequest(page_token="not a token"), operator_key)) == [
        "page_token"]
