"""One description of a payment (issue 13 item 10), over real gRPC and a real webhook receiver, on SQLite and
PostgreSQL: GetPayment carries the channel's trade number and the paid time, GetRefund the channel's reference
for the refund, ListPayments finds a payment by the merchant's order number, and every webhook's `data` is the
protobuf JSON mapping of the same messages (without the buyer action), so that an app parses one shape."""

from __future__ import annotations

import json
import re
import runpy
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import refund_pb2 as rpb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.bootstrap import make_dispatcher
from gateway.runtime import RunningGateway
from tests.e2e.receiver import Receiver
from tests.e2e.test_payment_completion import pay_at_alipay, wait_for_state
from tests.support import ROOT, CashierClient, error_details, make_settings, running_gateway, seed_tenant


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    settings = make_settings(
        database_url, channels={"alipay": alipay.channel_table},
        webhooks={"every_seconds": 0.05, "retry_base_seconds": 0.1, "retry_cap_seconds": 0.3, "lease_seconds": 10},
        recovery={"every_seconds": 3600})
    with running_gateway(settings, housekeeping=True) as running:
        yield running


@pytest.fixture
def app(gateway: RunningGateway, receiver: Receiver) -> Iterator[CashierClient]:
    tenant = seed_tenant(gateway.gateway)
    dispatcher = make_dispatcher(gateway.gateway)
    dispatcher.set_webhook(tenant.app_id, receiver.url)
    dispatcher.sender.close()  # type: ignore[attr-defined]
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        yield CashierClient(channel, tenant)


def get_payment(app: CashierClient, name: str) -> pb.Payment:
    return app.stub.GetPayment(svc.GetPaymentRequest(name=name), metadata=app.metadata()).payment


def paid(app: CashierClient, alipay: LocalAlipay, amount: int = 1000, **fields: Any) -> tuple[pb.Payment, dict]:  # type: ignore[type-arg]
    payment = app.create(amount=amount, **fields)
    trade = pay_at_alipay(alipay, payment.action.app_pay.order_string)
    done = wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED)
    assert done.state == pb.PAYMENT_STATE_SUCCEEDED
    return done, trade


def refund(app: CashierClient, payment: pb.Payment, out_refund_no: str, amount: int) -> rpb.Refund:
    return app.stub.RefundPayment(svc.RefundPaymentRequest(parent=payment.name, out_refund_no=out_refund_no,
                                                           amount=amount), metadata=app.metadata()).refund


def webhooks(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    wait_until(lambda: len(receiver.accepted()) >= count)
    return [json.loads(raw) for _, raw in receiver.accepted()]


def without_action(payment: pb.Payment) -> pb.Payment:
    copy = pb.Payment()
    copy.CopyFrom(payment)
    copy.ClearField("action")
    return copy


def parsed_payment(event: dict[str, Any]) -> pb.Payment:
    return json_format.ParseDict(event["data"]["payment"], pb.Payment())


def test_get_payment_shows_the_channels_trade_number_and_the_paid_time(app: CashierClient,
                                                                      alipay: LocalAlipay) -> None:
    pending = app.create(amount=1000)
    assert pending.channel_reference == "" and not pending.HasField("paid_time")
    payment, trade = paid(app, alipay)
    assert trade["trade_no"] and payment.channel_reference == trade["trade_no"]
    assert payment.HasField("paid_time")
    assert payment.create_time.ToDatetime() <= payment.paid_time.ToDatetime() <= payment.update_time.ToDatetime()


def test_get_refund_shows_the_channels_reference_for_the_refund(app: CashierClient, alipay: LocalAlipay) -> None:
    payment, trade = paid(app, alipay)
    made = refund(app, payment, "r-1", 400)
    assert made.state == rpb.REFUND_STATE_SUCCEEDED
    # Alipay gives a refund no id of its own: it knows it by its trade number and our refund id.
    assert made.channel_reference == trade["trade_no"]
    got = app.stub.GetRefund(svc.GetRefundRequest(name=made.name), metadata=app.metadata()).refund
    assert got == made


def test_list_payments_finds_a_payment_by_the_merchants_order_number(app: CashierClient) -> None:
    made = [app.create(amount=100 + i, out_trade_no=f"order-{i}") for i in range(3)]
    page = app.stub.ListPayments(svc.ListPaymentsRequest(parent=app.tenant.parent, out_trade_no="order-1"),
                                 metadata=app.metadata())
    assert [p.name for p in page.payments] == [made[1].name] and page.next_page_token == ""
    assert page.payments[0].out_trade_no == "order-1"
    across = app.stub.ListPayments(svc.ListPaymentsRequest(parent="merchants/-", out_trade_no="order-2"),
                                   metadata=app.metadata())
    assert [p.name for p in across.payments] == [made[2].name]
    none = app.stub.ListPayments(svc.ListPaymentsRequest(parent=app.tenant.parent, out_trade_no="order-9"),
                                 metadata=app.metadata())
    assert list(none.payments) == []
    for bad in ("order 1", "x" * 65, "订单-1", "order-1\x00"):
        with pytest.raises(grpc.RpcError) as err:
            app.stub.ListPayments(svc.ListPaymentsRequest(parent=app.tenant.parent, out_trade_no=bad),
                                  metadata=app.metadata())
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
        assert "out_trade_no" in (err.value.details() or ""), err.value.details()
    # A page token binds the filter it was issued for, as the other filters do.
    first = app.stub.ListPayments(svc.ListPaymentsRequest(parent=app.tenant.parent, page_size=1),
                                  metadata=app.metadata())
    assert first.next_page_token
    with pytest.raises(grpc.RpcError) as err:
        app.stub.ListPayments(svc.ListPaymentsRequest(parent=app.tenant.parent, page_size=1, out_trade_no="order-0",
                                                      page_token=first.next_page_token), metadata=app.metadata())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in error_details(err.value)[0]


def test_every_webhook_carries_the_messages_an_app_reads_over_grpc(app: CashierClient, alipay: LocalAlipay,
                                                                  receiver: Receiver) -> None:
    payment, _trade = paid(app, alipay, amount=1000, metadata={"cart": "c-7"},
                           line_items=[pb.LineItem(sku="tea", name="Oolong", quantity=2, unit_price=500)])
    [succeeded] = webhooks(receiver, 1)
    assert succeeded["type"] == "payment.succeeded" and succeeded["api_version"] == "v1"
    assert "action" not in succeeded["data"]["payment"]
    assert parsed_payment(succeeded) == without_action(get_payment(app, payment.name))
    # Field names as in the .proto, enums by name, int64 as strings: protobuf's JSON mapping.
    assert succeeded["data"]["payment"]["currency_code"] == "CNY"
    assert succeeded["data"]["payment"]["state"] == "PAYMENT_STATE_SUCCEEDED"
    assert succeeded["data"]["payment"]["channel_reference"] == payment.channel_reference

    made = refund(app, payment, "r-1", 400)
    event = next(e for e in webhooks(receiver, 2) if e["type"] == "refund.succeeded")
    assert event["api_version"] == "v1"
    assert json_format.ParseDict(event["data"]["refund"], rpb.Refund()) == made
    # The payment as the refund left it: what GetPayment shows now.
    assert parsed_payment(event) == without_action(get_payment(app, payment.name))
    assert parsed_payment(event).state == pb.PAYMENT_STATE_PARTIALLY_REFUNDED

    httpx.post(f"{alipay.url}/sandbox/faults", json={"system_error": {
        "method": "alipay.trade.refund", "count": 1, "code": "40004",
        "sub_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH", "sub_msg": "balance too low"}}).raise_for_status()
    refused = refund(app, payment, "r-2", 100)
    assert refused.state == rpb.REFUND_STATE_FAILED
    event = next(e for e in webhooks(receiver, 3) if e["type"] == "refund.failed")
    assert json_format.ParseDict(event["data"]["refund"], rpb.Refund()) == refused
    assert parsed_payment(event) == without_action(get_payment(app, payment.name))

    pending = app.create(amount=300)
    closed = app.stub.ClosePayment(svc.ClosePaymentRequest(name=pending.name), metadata=app.metadata()).payment
    event = next(e for e in webhooks(receiver, 4) if e["type"] == "payment.closed")
    assert "action" not in event["data"]["payment"] and "refund" not in event["data"]
    assert parsed_payment(event) == without_action(closed)
    for body in webhooks(receiver, 4):
        assert set(body) == {"id", "type", "api_version", "created_at", "merchant_id", "app_id", "sequence", "data"}
        assert body["merchant_id"] == app.tenant.merchant_id and body["app_id"] == app.tenant.app_id


def test_the_readmes_webhook_examples_are_the_codes_output() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = [json.loads(block) for block in re.findall(r"^```json\n(.*?)^```$", readme, re.S | re.M)]
    generated = runpy.run_path(str(ROOT / "scripts" / "webhook_examples.py"))["bodies"]()
    assert set(generated) == {"payment.succeeded", "payment.closed", "refund.succeeded", "refund.failed"}
    assert {body["type"]: body for body in shown} == generated, "run scripts/webhook_examples.py, paste its output"
    for body in generated.values():
        assert "action" not in body["data"]["payment"]
        json_format.ParseDict(body["data"]["payment"], pb.Payment())
