"""`idempotency-key` on every RPC that changes something (ClosePayment, RefundPayment, the operator's
CreateMerchant, as on CreatePayment), over real gRPC on SQLite and PostgreSQL: the key is the caller's, the RPC
and the whole request identify what it was sent with, a retry gets the first answer again byte for byte (a
Get shows the present), another request under the key is refused and does nothing, copies sent at once act
once, and a call refused before it acted leaves the key free."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import func, select

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from cashier.v1 import onboarding_pb2 as opb
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import refund_pb2 as rpb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.api.idempotency import IDEMPOTENT_METHODS
from gateway.runtime import RunningGateway
from gateway.storage.tables import applications, idempotency_keys, payments
from tests.e2e.test_concurrency import run_together
from tests.e2e.test_refunds import get_payment, paid_payment, sandbox_refunds, stored_refunds
from tests.onboarding_support import CREDIT_CODE
from tests.support import CashierClient, error_details, make_settings, running_gateway

CLOSE = "ClosePayment"


def rows(server: RunningGateway, table: Any) -> int:
    with server.gateway.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def reason(err: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    info = error_details(err)[1]
    return err.code(), info.reason if info else ""


def close(client: CashierClient, name: str, key: str | None) -> svc.ClosePaymentResponse:
    return client.stub.ClosePayment(svc.ClosePaymentRequest(name=name), metadata=client.metadata(key))


def refund(app: CashierClient, payment: pb.Payment, number: str, amount: int, key: str | None
           ) -> svc.RefundPaymentResponse:
    return app.stub.RefundPayment(svc.RefundPaymentRequest(parent=payment.name, out_refund_no=number, amount=amount),
                                  metadata=app.metadata(key))


def exact(message: Any) -> bytes:
    return message.SerializeToString(deterministic=True)


def test_every_writing_rpc_declares_it() -> None:
    assert {"cashier.v1.CashierService.CreatePayment", "cashier.v1.CashierService.ClosePayment",
            "cashier.v1.CashierService.RefundPayment", "cashier.v1.MerchantService.SubmitApplication",
            } <= IDEMPOTENT_METHODS


# --- ClosePayment, on the test channels -------------------------------------------------------------


def test_one_key_for_two_closes_closes_the_first_only(server: RunningGateway, client: CashierClient) -> None:
    p1, p2 = client.create(), client.create()
    first = close(client, p1.name, "K2")
    assert first.payment.state == pb.PAYMENT_STATE_CLOSED
    with pytest.raises(grpc.RpcError) as err:
        close(client, p2.name, "K2")
    assert reason(err.value) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    assert "K2" in (err.value.details() or "")
    assert error_details(err.value)[1].metadata["method"] == "cashier.v1.CashierService.ClosePayment"
    read = client.stub.GetPayment(svc.GetPaymentRequest(name=p2.name), metadata=client.metadata()).payment
    assert read.state == pb.PAYMENT_STATE_PENDING
    assert exact(close(client, p1.name, "K2")) == exact(first)  # the retry: the first answer


def test_the_rpc_is_part_of_what_a_key_was_sent_with(client: CashierClient) -> None:
    payment = client.create(idempotency_key="K-rpc")
    with pytest.raises(grpc.RpcError) as err:
        close(client, payment.name, "K-rpc")
    assert reason(err.value) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    assert "CreatePayment" in (err.value.details() or "")


def test_refused_calls_leave_the_key_free(server: RunningGateway, client: CashierClient) -> None:
    payment = client.create()
    # Bad input, another merchant's payment, a payment that is not there: nothing acted, nothing stored.
    for name, code in [(f"{client.tenant.parent}/payments/not an id", grpc.StatusCode.INVALID_ARGUMENT),
                       ("merchants/shop-2/payments/pay_0000000000000000000000000A", grpc.StatusCode.PERMISSION_DENIED),
                       (f"{client.tenant.parent}/payments/pay_0000000000000000000000000A", grpc.StatusCode.NOT_FOUND)]:
        with pytest.raises(grpc.RpcError) as err:
            close(client, name, "K-fix")
        assert err.value.code() == code
    with pytest.raises(grpc.RpcError) as err:
        client.create(idempotency_key="K-fix", amount=0)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rows(server, idempotency_keys) == 0
    # The corrected request under the same key acts.
    assert close(client, payment.name, "K-fix").payment.state == pb.PAYMENT_STATE_CLOSED
    assert rows(server, idempotency_keys) == 1


def test_a_bad_key_is_refused_and_names_the_header(server: RunningGateway, client: CashierClient) -> None:
    payment = client.create()
    for bad in ["", "k" * 256]:  # (grpc clients refuse to send non-ASCII or control characters)
        with pytest.raises(grpc.RpcError) as err:
            client.stub.ClosePayment(svc.ClosePaymentRequest(name=payment.name),
                                     metadata=[*client.metadata(), ("idempotency-key", bad)])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "idempotency-key" in error_details(err.value)[0]
    assert rows(server, idempotency_keys) == 0


def test_closes_of_many_payments_sent_at_once_under_one_key_close_one(server: RunningGateway,
                                                                       client: CashierClient) -> None:
    made = [client.create() for _ in range(8)]
    results = run_together([lambda p=p: close(client, p.name, "K-race") for p in made])
    closed = [r for r in results if not isinstance(r, grpc.RpcError)]
    assert len(closed) == 1, results
    for err in (r for r in results if isinstance(r, grpc.RpcError)):
        assert reason(err)[1] in {"IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_KEY_IN_PROGRESS"}, err
    with server.gateway.engine.connect() as conn:
        states = conn.execute(select(payments.c.state)).scalars().all()
    assert sorted(states) == ["CLOSED"] + ["PENDING"] * 7


# --- the operator's writes ------------------------------------------------------------------------


def test_an_operator_write_honours_the_key(server: RunningGateway, grpc_channel: grpc.Channel) -> None:
    stub = msvc_grpc.MerchantServiceStub(grpc_channel)
    ops1 = [("authorization", f"Bearer {server.gateway.admin.create_operator('ops-1').key}")]
    ops2 = [("authorization", f"Bearer {server.gateway.admin.create_operator('ops-2').key}")]

    def submit(merchant_id: str, who: list[tuple[str, str]]) -> msvc.SubmitApplicationResponse:
        return stub.SubmitApplication(msvc.SubmitApplicationRequest(application=_application(merchant_id)),
                                      metadata=[*who, ("idempotency-key", "K-op")])

    before = rows(server, applications)
    first = submit("tea-one", ops1)
    assert exact(submit("tea-one", ops1)) == exact(first)  # a retry, not MERCHANT_ID_TAKEN
    with pytest.raises(grpc.RpcError) as err:
        submit("tea-two", ops1)
    assert reason(err.value) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    assert rows(server, applications) == before + 1
    assert submit("tea-two", ops2).application.merchant_id == "tea-two"  # another caller's key is its own


def _application(merchant_id: str) -> opb.Application:
    legal = "Fuzhou Tea House Co., Ltd."
    return opb.Application(
        merchant_id=merchant_id, display_name="Tea",
        basic_info=opb.BasicInfo(applicant_account_id="acct-1", kind=opb.VERIFICATION_KIND_ENTERPRISE,
                                 contact_name="Lin Mei", contact_phone="13800138000", contact_email="lin@example.com"),
        business_info=opb.BusinessInfo(legal_name=legal, credit_code=CREDIT_CODE, registered_address="1 Wusi Road",
                                       business_scope="Tea retail", business_category="food"),
        financial_info=opb.FinancialInfo(payout_logon_id="finance@tea.example", holder_name=legal))


# --- RefundPayment, on the Alipay sandbox ------------------------------------------------------------


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    # A read timeout long enough that a refund held by the sandbox's timeout fault is still running, seconds
    # later, when its copy arrives.
    table = {**alipay.channel_table, "read_timeout": 3.0}
    with running_gateway(make_settings(database_url, channels={"alipay": table}), housekeeping=False) as running:
        yield running


def faults(alipay: LocalAlipay, document: dict[str, Any] | None) -> None:
    answer = (httpx.post(f"{alipay.url}/sandbox/faults", json=document) if document
              else httpx.delete(f"{alipay.url}/sandbox/faults"))
    assert answer.status_code == 200


def test_one_key_for_two_refund_numbers_makes_one_refund(app: CashierClient, alipay: LocalAlipay,
                                                          gateway: RunningGateway) -> None:
    payment = paid_payment(app, alipay, 1000)
    first = refund(app, payment, "A", 300, "K")
    assert first.refund.state == rpb.REFUND_STATE_SUCCEEDED
    with pytest.raises(grpc.RpcError) as err:
        refund(app, payment, "B", 300, "K")
    assert reason(err.value) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    assert stored_refunds(gateway) == 1 and len(sandbox_refunds(alipay, payment)) == 1
    assert get_payment(app, payment.name).refunded_amount == 300


def test_a_refund_the_channel_refused_is_replayed(app: CashierClient, alipay: LocalAlipay,
                                                  gateway: RunningGateway) -> None:
    payment = paid_payment(app, alipay, 1000)
    faults(alipay, {"system_error": {"method": "alipay.trade.refund", "count": 1, "code": "40004",
                                     "sub_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH", "sub_msg": "balance too low"}})
    first = refund(app, payment, "A", 300, "K-refused")
    assert first.refund.state == rpb.REFUND_STATE_FAILED
    assert exact(refund(app, payment, "A", 300, "K-refused")) == exact(first)
    assert stored_refunds(gateway) == 1 and sandbox_refunds(alipay, payment) == []


def test_refunds_sent_at_once_under_one_key_refund_once(app: CashierClient, alipay: LocalAlipay,
                                                        gateway: RunningGateway) -> None:
    payment = paid_payment(app, alipay, 1000)
    # Eight copies of one request, and eight other requests, all under one key, all at once.
    same = run_together([lambda: refund(app, payment, "A", 100, "K-same") for _ in range(8)])
    answers = [exact(r) for r in same if not isinstance(r, grpc.RpcError)]
    assert answers and len(set(answers)) == 1
    for err in (r for r in same if isinstance(r, grpc.RpcError)):
        assert reason(err) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_IN_PROGRESS"), err
    other = run_together([lambda n=n: refund(app, payment, f"B-{n}", 100, "K-other") for n in range(8)])
    made = [r for r in other if not isinstance(r, grpc.RpcError)]
    assert len(made) == 1, other
    for err in (r for r in other if isinstance(r, grpc.RpcError)):
        assert reason(err)[1] in {"IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_KEY_IN_PROGRESS"}, err
    assert stored_refunds(gateway) == 2 and len(sandbox_refunds(alipay, payment)) == 2
    assert get_payment(app, payment.name).refunded_amount == 200


def test_a_copy_sent_while_the_first_runs_is_told_to_retry_and_a_replay_is_the_first_answer(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    payment = paid_payment(app, alipay, 1000)
    # Alipay refunds, but answers neither the refund nor the queries within the gateway's 3 s: the first call
    # runs for several seconds (about 12 here) and answers PENDING.
    faults(alipay, {"timeout": [{"method": "alipay.trade.refund", "count": 1, "seconds": 5},
                                {"method": "alipay.trade.fastpay.refund.query", "count": -1, "seconds": 5}]})
    results: list[Any] = []
    first_call = threading.Thread(target=lambda: results.append(refund(app, payment, "LATE", 250, "K-late")))
    first_call.start()
    deadline = time.monotonic() + 20
    while stored_refunds(gateway) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(grpc.RpcError) as err:
        refund(app, payment, "LATE", 250, "K-late")
    assert reason(err.value) == (grpc.StatusCode.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_IN_PROGRESS")
    first_call.join(30)
    first = results[0]
    assert first.refund.state == rpb.REFUND_STATE_PENDING

    # The refund settles and another refund moves the payment on: a Get shows the present, a replay the past.
    faults(alipay, None)
    assert gateway.gateway.refunds.resolve_pending_refunds().succeeded == [first.refund.name.rsplit("/", 1)[1]]
    refund(app, payment, "MORE", 100, None)
    got = app.stub.GetRefund(svc.GetRefundRequest(name=first.refund.name), metadata=app.metadata()).refund
    assert got.state == rpb.REFUND_STATE_SUCCEEDED
    replay = refund(app, payment, "LATE", 250, "K-late")
    assert exact(replay) == exact(first)
    assert get_payment(app, payment.name).refunded_amount == 350
    assert stored_refunds(gateway) == 2 and len(sandbox_refunds(alipay, payment)) == 2
