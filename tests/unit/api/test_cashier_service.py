"""CashierService in process (see inprocess.py for the layer): per RPC, how the request is decoded, every field
it refuses (BadRequest, in order), the status and ErrorInfo of each refusal, and the metadata it reads."""

from __future__ import annotations

import re

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from gateway.bootstrap import Gateway
from gateway.domain.merchants import MerchantState
from tests.support import Tenant, seed_tenant
from tests.unit.api.inprocess import CASHIER, InProcessApi, invalid, method, refused

CREATE = method(CASHIER, "CreatePayment")
GET = method(CASHIER, "GetPayment")
LIST = method(CASHIER, "ListPayments")
CLOSE = method(CASHIER, "ClosePayment")
PREVIEW = method(CASHIER, "PreviewRoute")
CHANNELS = method(CASHIER, "ListChannels")
REFUND = method(CASHIER, "RefundPayment")
GET_REFUND = method(CASHIER, "GetRefund")
LIST_REFUNDS = method(CASHIER, "ListRefunds")
WATCH = method(CASHIER, "WatchPayment")

IOS = pb.Client(platform=pb.PLATFORM_IOS_APP, app_name="Platform", app_version="9.2.0", user_agent="UA/1")
PAYMENT_NAME = re.compile(r"merchants/shop-1/payments/pay_[A-Za-z0-9_\-]+")


def create_request(tenant: Tenant, **fields: object) -> svc.CreatePaymentRequest:
    values: dict[str, object] = {"parent": tenant.parent, "out_trade_no": "order-1", "amount": 2590,
                                 "currency_code": "CNY", "subject": "Oolong tea, 250 g", "client": IOS,
                                 "scenario": pb.SCENARIO_POST_PRODUCT_CARD}
    values.update(fields)
    return svc.CreatePaymentRequest(**values)  # type: ignore[arg-type]


def create(api: InProcessApi, tenant: Tenant, **fields: object) -> pb.Payment:
    return api.call(CREATE, create_request(tenant, **fields), tenant.key).response.payment


def listed(api: InProcessApi, tenant: Tenant, **fields: object) -> list[str]:
    answer = api.call(LIST, svc.ListPaymentsRequest(parent=tenant.parent, **fields), tenant.key)  # type: ignore[arg-type]
    return [p.out_trade_no for p in answer.response.payments]


# --- credentials and request ids (the interceptor, in front of every RPC) ------------------------------


def test_no_key_a_wrong_key_and_an_operator_key_are_refused(api: InProcessApi, tenant: Tenant,
                                                            operator_key: str) -> None:
    request = svc.ListPaymentsRequest(parent=tenant.parent)
    refused(api.call(LIST, request, None), grpc.StatusCode.UNAUTHENTICATED, "MISSING_CREDENTIALS")
    refused(api.call(LIST, request, tenant.key + "x"), grpc.StatusCode.UNAUTHENTICATED, "INVALID_API_KEY")
    refused(api.call(LIST, request, None, [("authorization", f"Basic {tenant.key}")]),
            grpc.StatusCode.UNAUTHENTICATED, "MISSING_CREDENTIALS")
    answer = refused(api.call(LIST, request, operator_key), grpc.StatusCode.PERMISSION_DENIED, "WRONG_CREDENTIALS")
    assert "needs app credentials" in answer.details


def test_a_sane_request_id_is_echoed_and_any_other_replaced(api: InProcessApi, tenant: Tenant) -> None:
    request = svc.ListPaymentsRequest(parent=tenant.parent)
    sent = api.call(LIST, request, tenant.key, [("x-request-id", "req-42:a.b_c")])
    assert sent.initial_metadata["x-request-id"] == "req-42:a.b_c"
    for wild in ["", "has space", "x" * 129, "naïve"]:
        made = api.call(LIST, request, tenant.key, [("x-request-id", wild)]).initial_metadata["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made), (wild, made)
    # Refused calls carry one too: it is what an operator looks up in the logs.
    refusal = api.call(LIST, request, None, [("x-request-id", "req-43")])
    assert refusal.initial_metadata["x-request-id"] == "req-43"


def test_a_header_that_must_be_single_is_refused_when_sent_twice(api: InProcessApi, tenant: Tenant) -> None:
    answer = api.call(CREATE, create_request(tenant), tenant.key,
                      [("idempotency-key", "k1"), ("idempotency-key", "k2")])
    assert invalid(answer) == ["idempotency-key"]
    assert listed(api, tenant) == []


# --- CreatePayment ---------------------------------------------------------------------------------------


def test_create_payment_decodes_every_field(api: InProcessApi, tenant: Tenant) -> None:
    items = [pb.LineItem(sku="tea-250", name="Oolong tea", quantity=2, unit_price=1000),
             pb.LineItem(name="Gift box", quantity=1, unit_price=590)]
    payment = create(api, tenant, line_items=items, return_url="https://shop.example/done",
                     expire_after=Duration(seconds=600), metadata={"order": "A-17", "note": "茶"})
    assert PAYMENT_NAME.fullmatch(payment.name), payment.name
    assert (payment.out_trade_no, payment.amount, payment.currency_code, payment.subject) == (
        "order-1", 2590, "CNY", "Oolong tea, 250 g")
    assert list(payment.line_items) == items
    assert payment.client == IOS and payment.scenario == pb.SCENARIO_POST_PRODUCT_CARD
    assert payment.state == pb.PAYMENT_STATE_PENDING and payment.refunded_amount == 0
    # Routed by the decoded platform and version: the test plugin's app channel, with its in-app action.
    assert payment.channel == "test_app"
    assert payment.action.WhichOneof("kind") == "app_pay"
    assert "amount=2590" in payment.action.app_pay.order_string
    assert payment.return_url == "https://shop.example/done"
    assert dict(payment.metadata) == {"order": "A-17", "note": "茶"}
    assert payment.expire_time.ToSeconds() - payment.create_time.ToSeconds() == 600
    assert payment.update_time == payment.create_time and not payment.HasField("paid_time")
    # What was stored is what was answered.
    assert api.call(GET, svc.GetPaymentRequest(name=payment.name), tenant.key).response.payment == payment


def test_create_payment_defaults(api: InProcessApi, tenant: Tenant) -> None:
    """No expiry: 30 minutes. No scenario: OTHER. A browser: the web channel's redirect."""
    payment = create(api, tenant, scenario=pb.SCENARIO_UNSPECIFIED,
                     client=pb.Client(platform=pb.PLATFORM_PC_BROWSER))
    assert payment.expire_time.ToSeconds() - payment.create_time.ToSeconds() == 30 * 60
    assert payment.scenario == pb.SCENARIO_OTHER
    assert payment.channel == "test_web" and payment.action.WhichOneof("kind") == "redirect"
    assert not payment.return_url and not payment.metadata and not payment.line_items


def test_create_payment_names_every_wrong_field_in_order(api: InProcessApi, tenant: Tenant) -> None:
    answer = api.call(CREATE, svc.CreatePaymentRequest(
        parent="shops/1", out_trade_no="", amount=-5, currency_code="usd", subject=" ",
        line_items=[pb.LineItem(sku="s", name="", quantity=0, unit_price=-1)],
        client=pb.Client(app_version="nine"), return_url="ftp://files.example/x",
        expire_after=Duration(seconds=30), metadata={"k" * 41: "v"},
    ), tenant.key)
    assert invalid(answer) == [
        # decoding first
        "parent", "client.platform",
        # then the payment's rules, in validate_new_payment's order
        "out_trade_no", "amount", "currency_code", "subject",
        "line_items[0].name", "line_items[0].quantity", "line_items[0].unit_price", "line_items",
        "client.app_version", "return_url", "expire_after", f"metadata[{'k' * 41!r}]",
    ]
    violations = dict(answer.violations)
    assert violations["currency_code"] == "'usd' is not accepted; use one of CNY"
    assert violations["amount"] == "must be between 1 and 10000000000 minor units (fen)"
    assert violations["line_items"] == "quantity × unit_price sums to 0, but amount is -5"
    assert listed(api, tenant) == []


def test_create_payment_request_rules_are_checked_before_the_servicer(api: InProcessApi, tenant: Tenant) -> None:
    """request_checks (every string, enum and time of every request) answers first and alone: the servicer's
    own rules (the zero amount here) are not reached."""
    answer = api.call(CREATE, create_request(
        tenant, amount=0,
        line_items=[pb.LineItem(name="ok", quantity=1, unit_price=1), pb.LineItem(name="bad\x00", quantity=1)],
        client=pb.Client(platform=77), scenario=99, expire_after=Duration(seconds=600, nanos=-5),
        metadata={"k": "v\x1b"}), tenant.key)
    assert invalid(answer) == ["line_items[1].name", "client.platform", "scenario", "expire_after",
                               "metadata['k']"]
    assert dict(answer.violations)["scenario"] == "unknown value 99 of cashier.v1.Scenario"


def test_create_payment_refusals_map_to_status_and_reason(api: InProcessApi, gateway: Gateway,
                                                          tenant: Tenant) -> None:
    first = create(api, tenant)
    again = refused(api.call(CREATE, create_request(tenant), tenant.key),
                    grpc.StatusCode.ALREADY_EXISTS, "OUT_TRADE_NO_IN_USE")
    assert dict(again.info.metadata) == {"out_trade_no": "order-1",  # type: ignore[union-attr]
                                         "payment": first.name.rsplit("/", 1)[1]}

    other = refused(api.call(CREATE, create_request(tenant, parent="merchants/other-shop"), tenant.key),
                    grpc.StatusCode.PERMISSION_DENIED, "MERCHANT_NOT_AUTHORIZED")
    assert dict(other.info.metadata) == {"merchant": "other-shop"}  # type: ignore[union-attr]

    waiting = seed_tenant(gateway, "new-shop", "app-2", state=MerchantState.SUBMITTED)
    refused(api.call(CREATE, create_request(waiting), waiting.key),
            grpc.StatusCode.FAILED_PRECONDITION, "MERCHANT_NOT_APPROVED")

    # A channel that fails to prepare: UNAVAILABLE, nothing stored, safe to retry.
    failing = refused(api.call(CREATE, create_request(tenant, out_trade_no="order-2", client=pb.Client(
        platform=pb.PLATFORM_IN_APP_BROWSER, app_name="explode-prepare")), tenant.key),
        grpc.StatusCode.UNAVAILABLE, "CHANNEL_FAILED")
    assert dict(failing.info.metadata) == {"channel": "test_faulty"}  # type: ignore[union-attr]
    assert listed(api, tenant) == ["order-1"]


def test_create_payment_honours_the_idempotency_key(api: InProcessApi, tenant: Tenant) -> None:
    key = [("idempotency-key", "create-1")]
    first = api.call(CREATE, create_request(tenant), tenant.key, key).response
    assert api.call(CREATE, create_request(tenant), tenant.key, key).response == first
    other = refused(api.call(CREATE, create_request(tenant, amount=1), tenant.key, key),
                    grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    assert dict(other.info.metadata) == {  # type: ignore[union-attr]
        "idempotency_key": "create-1", "method": "cashier.v1.CashierService.CreatePayment"}
    for bad in ["", "k" * 256, "clé", "tab\there"]:
        answer = api.call(CREATE, create_request(tenant, out_trade_no="order-9"), tenant.key,
                          [("idempotency-key", bad)])
        assert invalid(answer) == ["idempotency-key"], bad
    assert listed(api, tenant) == ["order-1"]


# --- GetPayment, ClosePayment, WatchPayment: a payment's name ---------------------------------------------

BAD_PAYMENT_NAMES = ["", "pay_1", "merchants/shop-1", "merchants/shop-1/payments/",
                     "merchants/SHOP/payments/pay_1", "merchants/shop-1/payments/pay 1",
                     "merchants/shop-1/payments/pay_1/refunds/ref_1", "merchants/shop-1/payments/" + "p" * 65]


@pytest.mark.parametrize("rpc, request_type", [(GET, svc.GetPaymentRequest), (CLOSE, svc.ClosePaymentRequest),
                                                (WATCH, svc.WatchPaymentRequest)], ids=["get", "close", "watch"])
def test_a_payment_name_is_decoded_or_refused_by_field(api: InProcessApi, tenant: Tenant, rpc, request_type
                                                       ) -> None:  # type: ignore[no-untyped-def]
    for name in BAD_PAYMENT_NAMES:
        answer = api.call(rpc, request_type(name=name), tenant.key)
        assert invalid(answer) == ["name"], name
        assert answer.violations[0][1] == "must be a payment name such as merchants/shop-1/payments/pay_…"
    missing = refused(api.call(rpc, request_type(name=f"{tenant.parent}/payments/pay_missing"), tenant.key),
                      grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND")
    assert "merchants/shop-1/payments/pay_missing" in missing.details
    refused(api.call(rpc, request_type(name="merchants/other-shop/payments/pay_1"), tenant.key),
            grpc.StatusCode.PERMISSION_DENIED, "MERCHANT_NOT_AUTHORIZED")


def test_close_payment_closes_once_and_replays_under_its_key(api: InProcessApi, tenant: Tenant) -> None:
    payment = create(api, tenant)
    key = [("idempotency-key", "close-1")]
    closed = api.call(CLOSE, svc.ClosePaymentRequest(name=payment.name), tenant.key, key).response.payment
    assert closed.state == pb.PAYMENT_STATE_CLOSED and closed.name == payment.name
    assert api.call(CLOSE, svc.ClosePaymentRequest(name=payment.name), tenant.key, key).response.payment == closed
    # Closing a closed payment changes nothing and is no error.
    assert api.call(CLOSE, svc.ClosePaymentRequest(name=payment.name), tenant.key).response.payment == closed
    assert listed(api, tenant, state=pb.PAYMENT_STATE_CLOSED) == ["order-1"]


def test_watch_payment_streams_the_payment_and_ends_when_it_is_final(api: InProcessApi, tenant: Tenant) -> None:
    payment = create(api, tenant)
    api.call(CLOSE, svc.ClosePaymentRequest(name=payment.name), tenant.key)
    answer = api.call(WATCH, svc.WatchPaymentRequest(name=payment.name), tenant.key)
    assert answer.code == grpc.StatusCode.OK, answer.details
    assert [r.payment.state for r in answer.responses] == [pb.PAYMENT_STATE_CLOSED]
    assert answer.responses[0].payment.name == payment.name


# --- ListPayments -----------------------------------------------------------------------------------------


def test_list_payments_decodes_filters(api: InProcessApi, tenant: Tenant) -> None:
    first = create(api, tenant, out_trade_no="order-1")
    create(api, tenant, out_trade_no="order-2")
    api.call(CLOSE, svc.ClosePaymentRequest(name=first.name), tenant.key)
    assert sorted(listed(api, tenant)) == ["order-1", "order-2"]
    assert listed(api, tenant, state=pb.PAYMENT_STATE_PENDING) == ["order-2"]
    assert listed(api, tenant, state=pb.PAYMENT_STATE_SUCCEEDED) == []
    assert listed(api, tenant, out_trade_no="order-1") == ["order-1"]
    created = first.create_time.ToSeconds()
    assert sorted(listed(api, tenant, create_time_from=Timestamp(seconds=created - 60),
                         create_time_to=Timestamp(seconds=created + 3600))) == ["order-1", "order-2"]
    assert listed(api, tenant, create_time_from=Timestamp(seconds=created + 3600)) == []
    # Before 1970 means the epoch: nothing was created earlier, everything later.
    assert listed(api, tenant, create_time_to=Timestamp(seconds=-86400)) == []
    assert len(listed(api, tenant, create_time_from=Timestamp(seconds=-62_135_596_800))) == 2
    every = api.call(LIST, svc.ListPaymentsRequest(parent="merchants/-"), tenant.key).response
    assert len(every.payments) == 2


def test_list_payments_pages_and_binds_its_token_to_the_filters(api: InProcessApi, tenant: Tenant) -> None:
    for n in range(3):
        create(api, tenant, out_trade_no=f"order-{n}")
    page = api.call(LIST, svc.ListPaymentsRequest(parent=tenant.parent, page_size=2), tenant.key).response
    assert len(page.payments) == 2 and page.next_page_token
    rest = api.call(LIST, svc.ListPaymentsRequest(parent=tenant.parent, page_size=2,
                                                  page_token=page.next_page_token), tenant.key).response
    assert len(rest.payments) == 1 and not rest.next_page_token
    assert {p.name for p in page.payments}.isdisjoint(p.name for p in rest.payments)
    other = api.call(LIST, svc.ListPaymentsRequest(parent=tenant.parent, state=pb.PAYMENT_STATE_PENDING,
                                                   page_token=page.next_page_token), tenant.key)
    assert invalid(other) == ["page_token"]
    assert other.violations[0][1] == "was issued for a request with other filters"
    assert invalid(api.call(LIST, svc.ListPaymentsRequest(parent=tenant.parent, page_token="%%"),
                            tenant.key)) == ["page_token"]


def test_list_payments_names_every_wrong_field_in_order(api: InProcessApi, tenant: Tenant) -> None:
    answer = api.call(LIST, svc.ListPaymentsRequest(parent="merchants/x", page_size=-1, out_trade_no="no spaces"),
                      tenant.key)
    assert invalid(answer) == ["parent", "page_size", "out_trade_no"]
    assert "merchants/-" in answer.violations[0][1]  # the wildcard is offered where it is allowed
    for field, stamp in [("create_time_from", Timestamp(seconds=0, nanos=-1)),
                         ("create_time_to", Timestamp(seconds=253_402_300_800))]:
        out_of_range = api.call(LIST, svc.ListPaymentsRequest(parent=tenant.parent, **{field: stamp}), tenant.key)
        assert invalid(out_of_range) == [field]
    assert invalid(api.call(LIST, svc.ListPaymentsRequest(parent=tenant.parent, state=42), tenant.key)) == ["state"]
    refused(api.call(LIST, svc.ListPaymentsRequest(parent="merchants/other-shop"), tenant.key),
            grpc.StatusCode.PERMISSION_DENIED, "MERCHANT_NOT_AUTHORIZED")


# --- PreviewRoute and ListChannels ------------------------------------------------------------------------


def test_preview_route_decodes_as_create_payment_does(api: InProcessApi, tenant: Tenant) -> None:
    preview = api.call(PREVIEW, svc.PreviewRouteRequest(parent=tenant.parent, amount=2590, currency_code="CNY",
                                                        client=IOS, scenario=pb.SCENARIO_POST_PRODUCT_CARD),
                       tenant.key).response
    assert preview.channel == "test_app" and not preview.refusal
    chosen = [c.channel for c in preview.candidates if c.chosen]
    assert chosen == ["test_app"]
    assert {c.channel for c in preview.candidates if c.offered} == {"test_app", "test_web"}
    old_app = api.call(PREVIEW, svc.PreviewRouteRequest(
        parent=tenant.parent, amount=1, currency_code="CNY",
        client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="7.9")), tenant.key).response
    assert old_app.channel == "test_web"
    assert listed(api, tenant) == []  # a preview stores nothing


def test_preview_route_refuses_what_create_payment_refuses(api: InProcessApi, gateway: Gateway,
                                                           tenant: Tenant) -> None:
    wrong = dict(parent="shops/1", amount=0, currency_code="", client=pb.Client(app_version="v9"))
    preview = api.call(PREVIEW, svc.PreviewRouteRequest(**wrong), tenant.key)  # type: ignore[arg-type]
    assert invalid(preview) == ["parent", "client.platform", "amount", "currency_code", "client.app_version"]
    created = api.call(CREATE, create_request(tenant, **wrong), tenant.key)
    assert [f for f in invalid(created) if f in preview.fields] == preview.fields
    waiting = seed_tenant(gateway, "new-shop", "app-2", state=MerchantState.SUBMITTED)
    refused(api.call(PREVIEW, svc.PreviewRouteRequest(parent=waiting.parent, amount=1, currency_code="CNY",
                                                      client=IOS), waiting.key),
            grpc.StatusCode.FAILED_PRECONDITION, "MERCHANT_NOT_APPROVED")
    refused(api.call(PREVIEW, svc.PreviewRouteRequest(parent="merchants/other-shop", amount=1, currency_code="CNY",
                                                      client=IOS), tenant.key),
            grpc.StatusCode.PERMISSION_DENIED, "MERCHANT_NOT_AUTHORIZED")


def test_list_channels_pages_through_the_installed_channels(api: InProcessApi, tenant: Tenant) -> None:
    channels = api.call(CHANNELS, svc.ListChannelsRequest(), tenant.key).response
    assert [c.name for c in channels.channels] == ["test_app", "test_faulty", "test_web"]
    app = channels.channels[0]
    assert (app.display_name, list(app.actions), app.plugin) == ("Test in-app payment", ["app_pay"],
                                                                 "cashier-test-channels")
    assert "IOS_APP" in app.platforms and app.version
    names, token = [], ""
    while True:
        page = api.call(CHANNELS, svc.ListChannelsRequest(page_size=1, page_token=token), tenant.key).response
        names += [c.name for c in page.channels]
        token = page.next_page_token
        if not token:
            break
    assert names == ["test_app", "test_faulty", "test_web"]
    assert invalid(api.call(CHANNELS, svc.ListChannelsRequest(page_size=-1), tenant.key)) == ["page_size"]
    assert invalid(api.call(CHANNELS, svc.ListChannelsRequest(page_token="bm9wZQ"), tenant.key)) == ["page_token"]


# --- RefundPayment, GetRefund, ListRefunds ----------------------------------------------------------------


def test_refund_payment_names_every_wrong_field_in_order(api: InProcessApi, tenant: Tenant) -> None:
    answer = api.call(REFUND, svc.RefundPaymentRequest(parent="merchants/shop-1", out_refund_no="no/slash",
                                                       amount=0, reason="r" * 257), tenant.key)
    assert invalid(answer) == ["parent", "out_refund_no", "amount", "reason"]
    assert dict(answer.violations)["reason"] == "at most 256 characters"


def test_refund_payment_refusals_map_to_status_and_reason(api: InProcessApi, tenant: Tenant) -> None:
    payment = create(api, tenant)
    request = svc.RefundPaymentRequest(parent=payment.name, out_refund_no="refund-1", amount=100, reason="broken")
    pending = refused(api.call(REFUND, request, tenant.key, [("idempotency-key", "refund-1")]),
                      grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_NOT_REFUNDABLE")
    assert dict(pending.info.metadata)["state"] == "PENDING"  # type: ignore[union-attr]
    missing = svc.RefundPaymentRequest(parent=f"{tenant.parent}/payments/pay_missing", out_refund_no="refund-1",
                                       amount=100)
    refused(api.call(REFUND, missing, tenant.key), grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND")
    foreign = svc.RefundPaymentRequest(parent="merchants/other-shop/payments/pay_1", out_refund_no="refund-1",
                                       amount=100)
    refused(api.call(REFUND, foreign, tenant.key, [("idempotency-key", "refund-2")]),
            grpc.StatusCode.PERMISSION_DENIED, "MERCHANT_NOT_AUTHORIZED")
    # A refused call stores no answer under its key: the same call is answered the same way again.
    refused(api.call(REFUND, request, tenant.key, [("idempotency-key", "refund-1")]),
            grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_NOT_REFUNDABLE")


def test_get_refund_decodes_its_name(api: InProcessApi, tenant: Tenant) -> None:
    payment = create(api, tenant)
    for name in ["", payment.name, f"{payment.name}/refunds/", f"{payment.name}/refunds/ref 1",
                 "merchants/SHOP/payments/pay_1/refunds/ref_1"]:
        answer = api.call(GET_REFUND, svc.GetRefundRequest(name=name), tenant.key)
        assert invalid(answer) == ["name"], name
    refused(api.call(GET_REFUND, svc.GetRefundRequest(name=f"{payment.name}/refunds/ref_missing"), tenant.key),
            grpc.StatusCode.NOT_FOUND, "REFUND_NOT_FOUND")
    refused(api.call(GET_REFUND, svc.GetRefundRequest(name="merchants/other-shop/payments/pay_1/refunds/ref_1"),
                     tenant.key), grpc.StatusCode.PERMISSION_DENIED, "MERCHANT_NOT_AUTHORIZED")


def test_list_refunds_decodes_its_request(api: InProcessApi, tenant: Tenant) -> None:
    payment = create(api, tenant)
    empty = api.call(LIST_REFUNDS, svc.ListRefundsRequest(parent=payment.name), tenant.key).response
    assert list(empty.refunds) == [] and not empty.next_page_token
    answer = api.call(LIST_REFUNDS, svc.ListRefundsRequest(parent=tenant.parent, page_size=-1), tenant.key)
    assert invalid(answer) == ["parent", "page_size"]
    assert invalid(api.call(LIST_REFUNDS, svc.ListRefundsRequest(parent=payment.name, state=9), tenant.key)) == [
        "state"]
    assert invalid(api.call(LIST_REFUNDS, svc.ListRefundsRequest(parent=payment.name, page_token="e30"),
                            tenant.key)) == ["page_token"]
    refused(api.call(LIST_REFUNDS, svc.ListRefundsRequest(parent=f"{tenant.parent}/payments/pay_missing"),
                     tenant.key), grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND")
    refused(api.call(LIST_REFUNDS, svc.ListRefundsRequest(parent="merchants/other-shop/payments/pay_1"),
                     tenant.key), grpc.StatusCode.PERMISSION_DENIED, "MERCHANT_NOT_AUTHORIZED")
