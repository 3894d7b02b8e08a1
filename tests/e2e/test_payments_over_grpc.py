"""A trading app's whole journey over a real gRPC connection, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import func, select

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from gateway.storage.tables import idempotency_keys, payments
from tests.support import CashierClient, error_details


def count_payments(server) -> int:  # type: ignore[no-untyped-def]
    with server.gateway.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(payments)).scalar_one()


def test_health_is_serving(grpc_channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(grpc_channel)
    for service in ("", "cashier.v1.CashierService"):
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_cashier_service(grpc_channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(grpc_channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"cashier.v1.CashierService", "cashier.v1.MerchantService", "grpc.health.v1.Health"} <= names


def test_create_read_list_close(client: CashierClient) -> None:
    created = client.create(
        out_trade_no="T-1001", amount=3000,
        line_items=[pb.LineItem(sku="tea-250", name="Oolong 250 g", quantity=2, unit_price=1500)],
        return_url="https://shop.example/return", metadata={"cart": "c-77"},
        expire_after=Duration(seconds=600),
    )
    assert created.name.startswith("merchants/shop-1/payments/pay_")
    assert created.state == pb.PAYMENT_STATE_PENDING
    assert created.channel == "test_app"
    assert created.action.WhichOneof("kind") == "app_pay"
    assert "out_trade_no=T-1001" in created.action.app_pay.order_string
    assert created.expire_time.seconds - created.create_time.seconds == 600

    read = client.stub.GetPayment(svc.GetPaymentRequest(name=created.name), metadata=client.metadata()).payment
    assert read == created

    closed = client.stub.ClosePayment(svc.ClosePaymentRequest(name=created.name), metadata=client.metadata()).payment
    assert closed.state == pb.PAYMENT_STATE_CLOSED
    again = client.stub.ClosePayment(svc.ClosePaymentRequest(name=created.name), metadata=client.metadata()).payment
    assert again.state == pb.PAYMENT_STATE_CLOSED
    listed = client.stub.ListPayments(
        svc.ListPaymentsRequest(parent=client.tenant.parent, state=pb.PAYMENT_STATE_CLOSED),
        metadata=client.metadata()).payments
    assert [p.name for p in listed] == [created.name]


def test_list_pages_newest_first_without_gaps_or_repeats(client: CashierClient) -> None:
    made = [client.create(out_trade_no=f"P-{i:02d}").name for i in range(7)]
    seen, token, pages = [], "", 0
    while True:
        page = client.stub.ListPayments(
            svc.ListPaymentsRequest(parent=client.tenant.parent, page_size=3, page_token=token),
            metadata=client.metadata())
        seen += [p.name for p in page.payments]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(made))
    assert pages == 3


def test_list_filters_by_creation_time(client: CashierClient) -> None:
    first = client.create()
    cut = datetime.now(UTC) + timedelta(milliseconds=5)
    while datetime.now(UTC) < cut + timedelta(milliseconds=5):
        pass
    second = client.create()
    stamp = Timestamp()
    stamp.FromDatetime(cut)
    after = client.stub.ListPayments(svc.ListPaymentsRequest(parent=client.tenant.parent, create_time_from=stamp),
                                     metadata=client.metadata()).payments
    before = client.stub.ListPayments(svc.ListPaymentsRequest(parent=client.tenant.parent, create_time_to=stamp),
                                      metadata=client.metadata()).payments
    assert [p.name for p in after] == [second.name]
    assert [p.name for p in before] == [first.name]


def test_page_token_for_other_filters_is_refused(client: CashierClient) -> None:
    for i in range(3):
        client.create(out_trade_no=f"F-{i}")
    token = client.stub.ListPayments(svc.ListPaymentsRequest(parent=client.tenant.parent, page_size=1),
                                     metadata=client.metadata()).next_page_token
    with pytest.raises(grpc.RpcError) as err:
        client.stub.ListPayments(svc.ListPaymentsRequest(parent=client.tenant.parent, page_size=1, page_token=token,
                                                         state=pb.PAYMENT_STATE_PENDING), metadata=client.metadata())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in error_details(err.value)[0]


def test_bad_input_names_every_field_and_writes_nothing(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    request = client.request(
        out_trade_no="has spaces!", amount=0, currency_code="USD", subject="",
        client=pb.Client(platform=pb.PLATFORM_UNSPECIFIED, app_version="nine"),
        return_url="javascript:alert(1)", expire_after=Duration(seconds=10),
        line_items=[pb.LineItem(name="", quantity=0, unit_price=5), pb.LineItem(name="Cup", quantity=1, unit_price=7)],
    )
    with pytest.raises(grpc.RpcError) as err:
        client.stub.CreatePayment(request, metadata=client.metadata("bad-1"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields, info = error_details(err.value)
    assert set(fields) == {
        "out_trade_no", "amount", "currency_code", "subject", "client.platform", "client.app_version",
        "return_url", "expire_after", "line_items[0].name", "line_items[0].quantity", "line_items",
    }
    assert "USD" in fields["currency_code"] and "CNY" in fields["currency_code"]
    assert info is not None and info.reason == "INVALID_ARGUMENT"
    assert "Traceback" not in (err.value.details() or "")
    assert count_payments(server) == 0
    with server.gateway.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one() == 0


def test_line_items_must_add_up_to_the_amount(client: CashierClient) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.create(amount=1000, line_items=[pb.LineItem(name="Tea", quantity=3, unit_price=300)])
    fields, _ = error_details(err.value)
    assert fields == {"line_items": "quantity × unit_price sums to 900, but amount is 1000"}


def test_duplicate_out_trade_no_is_refused_with_the_existing_payment(client: CashierClient) -> None:
    first = client.create(out_trade_no="DUP-1")
    with pytest.raises(grpc.RpcError) as err:
        client.create(out_trade_no="DUP-1", amount=999)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    _, info = error_details(err.value)
    assert info.reason == "OUT_TRADE_NO_IN_USE"
    assert first.name.endswith(info.metadata["payment"])


def test_idempotent_retry_replays_the_first_answer(client: CashierClient) -> None:
    first = client.create(idempotency_key="retry-1", out_trade_no="IDEM-1")
    client.stub.ClosePayment(svc.ClosePaymentRequest(name=first.name), metadata=client.metadata())
    replay = client.stub.CreatePayment(client.request(out_trade_no="IDEM-1"), metadata=client.metadata("retry-1"))
    # A replay is the first response exactly, even though the payment has moved on since.
    assert replay.payment.name == first.name
    assert replay.payment.state == pb.PAYMENT_STATE_PENDING


def test_same_key_for_a_different_request_names_the_conflict(client: CashierClient) -> None:
    client.create(idempotency_key="k-1", out_trade_no="A-1")
    with pytest.raises(grpc.RpcError) as err:
        client.create(idempotency_key="k-1", out_trade_no="A-2")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    _, info = error_details(err.value)
    assert info.reason == "IDEMPOTENCY_KEY_REUSED"
    assert info.metadata["idempotency_key"] == "k-1"
    assert "k-1" in err.value.details()


def test_merchant_not_enabled_for_collection_is_refused_with_the_reason(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    server.gateway.admin.update_merchant("shop-1", settlement_account_verified=False)
    with pytest.raises(grpc.RpcError) as err:
        client.create()
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(err.value)[1].reason == "SETTLEMENT_ACCOUNT_NOT_VERIFIED"
    from gateway.domain.merchants import MerchantState
    server.gateway.admin.update_merchant("shop-1", state=MerchantState.UNDER_REVIEW, settlement_account_verified=True)
    with pytest.raises(grpc.RpcError) as err:
        client.create()
    assert error_details(err.value)[1].reason == "MERCHANT_NOT_APPROVED"
    assert "UNDER_REVIEW" in err.value.details()
    assert count_payments(server) == 0


def test_no_channel_can_serve_says_why(client: CashierClient, server) -> None:  # type: ignore[no-untyped-def]
    # Pin a channel that declines this client: every other channel is ruled out, the pinned one says no.
    server.gateway.payments.router.rules = [
        __import__("gateway.service.routing", fromlist=["RoutingRule"]).RoutingRule(name="apps-only", pin="test_app")]
    with pytest.raises(grpc.RpcError) as err:
        client.create(client=pb.Client(platform=pb.PLATFORM_PC_BROWSER))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "test_app: not the platform's app" in err.value.details()
    assert "pins 'test_app'" in err.value.details()


def test_preview_route_returns_the_choice_and_the_trace(client: CashierClient) -> None:
    old_app = pb.Client(platform=pb.PLATFORM_ANDROID_APP, app_version="7.9")
    preview = client.stub.PreviewRoute(svc.PreviewRouteRequest(
        parent=client.tenant.parent, amount=100, currency_code="CNY", client=old_app,
        scenario=pb.SCENARIO_SHOP_HOME), metadata=client.metadata())
    assert preview.channel == "test_web"
    trace = {c.channel: c for c in preview.candidates}
    assert not trace["test_app"].offered and "below 8.0" in trace["test_app"].reason
    assert trace["test_web"].chosen and trace["test_web"].priority == 10
    assert trace["test_faulty"].reason == "declined"


def test_list_channels(client: CashierClient) -> None:
    listed = client.stub.ListChannels(svc.ListChannelsRequest(), metadata=client.metadata()).channels
    by_name = {c.name: c for c in listed}
    assert set(by_name) == {"test_app", "test_faulty", "test_web"}
    assert by_name["test_app"].plugin == "cashier-test-channels"
    assert by_name["test_app"].version == "0.0.1"
    assert list(by_name["test_app"].actions) == ["app_pay"]


def test_a_channel_that_raises_is_contained(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    in_app = pb.Client(platform=pb.PLATFORM_IN_APP_BROWSER, app_name="explode-prepare")
    with pytest.raises(grpc.RpcError) as err:
        client.create(client=in_app)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_details(err.value)[1].metadata["channel"] == "test_faulty"
    assert "Traceback" not in err.value.details()
    # The offer that raises is reported in the trace and the next best channel serves.
    exploding = pb.Client(platform=pb.PLATFORM_IN_APP_BROWSER, app_name="explode-offer")
    payment = client.create(client=exploding)
    assert payment.channel == "test_web"
    assert count_payments(server) == 1
    preview = client.stub.PreviewRoute(svc.PreviewRouteRequest(
        parent=client.tenant.parent, amount=100, currency_code="CNY", client=exploding), metadata=client.metadata())
    assert {c.channel: c.reason for c in preview.candidates}["test_faulty"] == "channel error: RuntimeError"


def test_metrics_show_the_calls_just_made(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    client.create()
    with pytest.raises(grpc.RpcError):
        client.create(amount=-5)
    body = httpx.get(f"{server.http_url}/metrics").text
    assert 'cashier_rpc_calls_total{code="OK",method="CreatePayment"} 1.0' in body
    assert 'cashier_rpc_calls_total{code="INVALID_ARGUMENT",method="CreatePayment"} 1.0' in body
    assert 'cashier_rpc_latency_seconds_count{method="CreatePayment"} 2.0' in body
    assert 'cashier_channel_calls_total{channel="test_app",operation="prepare",outcome="ok"} 1.0' in body
    health = httpx.get(f"{server.http_url}/healthz")
    assert health.status_code == 200 and health.json()["database"] is True
