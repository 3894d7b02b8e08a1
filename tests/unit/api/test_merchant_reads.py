"""MerchantService's merchant reads in process (see inprocess.py for the layer): GetMerchant and ListMerchants,
which were OperatorService's until merchants came only through approved applications (issue 17). Decoding,
field errors, paging, and who may read what."""

from __future__ import annotations

import grpc

from cashier.v1 import merchant_pb2 as mpb
from cashier.v1 import merchant_service_pb2 as msvc
from gateway.bootstrap import Gateway
from gateway.service.admin import NewMerchant
from tests.support import Tenant
from tests.unit.api.inprocess import MERCHANTS, InProcessApi, invalid, method, refused

GET = method(MERCHANTS, "GetMerchant")
LIST = method(MERCHANTS, "ListMerchants")


def test_get_merchant_decodes_its_name(api: InProcessApi, operator_key: str, tenant: Tenant) -> None:
    got = api.call(GET, msvc.GetMerchantRequest(name=tenant.parent), operator_key).response.merchant
    assert (got.name, got.display_name, got.state) == ("merchants/shop-1", "Tea House", mpb.MERCHANT_STATE_APPROVED)
    for name in ["", "shop-1", "merchants/", "merchants/-", "merchants/Shop-1", "merchants/shop-1/payments/p"]:
        assert invalid(api.call(GET, msvc.GetMerchantRequest(name=name), operator_key)) == ["name"], name
    missing = refused(api.call(GET, msvc.GetMerchantRequest(name="merchants/no-such-shop"), operator_key),
                      grpc.StatusCode.NOT_FOUND, "MERCHANT_NOT_FOUND")
    assert "no-such-shop" in missing.details


def test_list_merchants_pages(api: InProcessApi, operator_key: str, gateway: Gateway) -> None:
    for n in range(3):
        gateway.admin.create_merchant(NewMerchant(f"house-{n}", f"House {n}"))
    names, token = [], ""
    while True:
        page = api.call(LIST, msvc.ListMerchantsRequest(page_size=2, page_token=token), operator_key).response
        names += [m.name for m in page.merchants]
        token = page.next_page_token
        if not token:
            break
    assert names == ["merchants/house-0", "merchants/house-1", "merchants/house-2"]
    assert invalid(api.call(LIST, msvc.ListMerchantsRequest(page_size=-1), operator_key)) == ["page_size"]
    assert invalid(api.call(LIST, msvc.ListMerchantsRequest(page_token="not a token"), operator_key)) == [
        "page_token"]


def test_an_app_reads_only_the_merchants_it_acts_for(api: InProcessApi, tenant: Tenant, gateway: Gateway) -> None:
    gateway.admin.create_merchant(NewMerchant("other-shop", "Other Shop"))
    assert api.call(GET, msvc.GetMerchantRequest(name=tenant.parent), tenant.key).response.merchant.name == \
        tenant.parent
    refused(api.call(GET, msvc.GetMerchantRequest(name="merchants/other-shop"), tenant.key),
            grpc.StatusCode.NOT_FOUND, "MERCHANT_NOT_FOUND")
    listed = api.call(LIST, msvc.ListMerchantsRequest(), tenant.key).response
    assert [m.name for m in listed.merchants] == [tenant.parent]
    refused(api.call(LIST, msvc.ListMerchantsRequest(), None), grpc.StatusCode.UNAUTHENTICATED,
            "MISSING_CREDENTIALS")
