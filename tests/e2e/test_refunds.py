"""Refunds over real gRPC against the Alipay sandbox, on SQLite and PostgreSQL: partial and full, idempotent by
out_refund_no, never more than was paid (also under 50 concurrent requests), unknown answers settled by query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from sqlalchemy import func, select

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import refund_pb2 as rpb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.runtime import RunningGateway
from gateway.storage.tables import refunds
from tests.e2e.test_concurrency import run_together
from tests.e2e.test_payment_completion import pay_at_alipay, wait_for_state
from tests.support import (
    CashierClient,
    cashier_cli,
    error_details,
    make_settings,
    running_gateway,
    seed_tenant,
)


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    # A short read timeout, so that the sandbox's timeout fault makes an answer unknown quickly.
    table = {**alipay.channel_table, "read_timeout": 1.0}
    with running_gateway(make_settings(database_url, channels={"alipay": table}), housekeeping=False) as running:
        yield running


def paid_payment(app: CashierClient, alipay: LocalAlipay, amount: int = 1000) -> pb.Payment:
    payment = app.create(amount=amount)
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    paid = wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED)
    assert paid.state == pb.PAYMENT_STATE_SUCCEEDED
    return paid


def refund(app: CashierClient, payment: pb.Payment, out_refund_no: str, amount: int, reason: str = "") -> rpb.Refund:
    return app.stub.RefundPayment(svc.RefundPaymentRequest(
        parent=payment.name, out_refund_no=out_refund_no, amount=amount, reason=reason),
        metadata=app.metadata()).refund


def get_payment(app: CashierClient, name: str) -> pb.Payment:
    return app.stub.GetPayment(svc.GetPaymentRequest(name=name), metadata=app.metadata()).payment


def sandbox_refunds(alipay: LocalAlipay, payment: pb.Payment) -> list[dict]:  # type: ignore[type-arg]
    trade = httpx.get(f"{alipay.url}/sandbox/trades/{payment.name.rsplit('/', 1)[1]}").json()
    return list(trade["refunds"])


def _fen(yuan: str) -> int:
    units, _, cents = yuan.partition(".")
    return int(units) * 100 + int(cents.ljust(2, "0"))


def stored_refunds(gateway: RunningGateway) -> int:
    with gateway.gateway.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(refunds)).scalar_one()


def test_partial_partial_then_the_rest_refunds_the_payment(app: CashierClient, alipay: LocalAlipay) -> None:
    payment = paid_payment(app, alipay, 1000)
    first = refund(app, payment, "R-1", 300, "one cup broken")
    assert first.state == rpb.REFUND_STATE_SUCCEEDED
    assert first.name.startswith(payment.name + "/refunds/ref_")
    assert (first.amount, first.currency_code, first.reason) == (300, "CNY", "one cup broken")
    after_first = get_payment(app, payment.name)
    assert (after_first.state, after_first.refunded_amount) == (pb.PAYMENT_STATE_PARTIALLY_REFUNDED, 300)

    second = refund(app, payment, "R-2", 200)
    assert second.state == rpb.REFUND_STATE_SUCCEEDED
    assert get_payment(app, payment.name).refunded_amount == 500

    rest = refund(app, payment, "R-3", 500)
    assert rest.state == rpb.REFUND_STATE_SUCCEEDED
    done = get_payment(app, payment.name)
    assert (done.state, done.refunded_amount) == (pb.PAYMENT_STATE_REFUNDED, 1000)

    got = app.stub.GetRefund(svc.GetRefundRequest(name=second.name), metadata=app.metadata()).refund
    assert got == second
    listed = app.stub.ListRefunds(svc.ListRefundsRequest(parent=payment.name), metadata=app.metadata())
    assert [r.out_refund_no for r in listed.refunds] == ["R-3", "R-2", "R-1"]  # newest first
    paged = app.stub.ListRefunds(svc.ListRefundsRequest(parent=payment.name, page_size=2), metadata=app.metadata())
    assert len(paged.refunds) == 2 and paged.next_page_token
    more = app.stub.ListRefunds(svc.ListRefundsRequest(parent=payment.name, page_size=2,
                                                       page_token=paged.next_page_token), metadata=app.metadata())
    assert [r.out_refund_no for r in more.refunds] == ["R-1"] and not more.next_page_token
    failed = app.stub.ListRefunds(svc.ListRefundsRequest(parent=payment.name, state=rpb.REFUND_STATE_FAILED),
                                  metadata=app.metadata())
    assert list(failed.refunds) == []

    # Alipay's own records agree: three refunds, under our refund ids, for the same amounts.
    at_alipay = sandbox_refunds(alipay, payment)
    assert {(r["out_request_no"], _fen(r["refund_amount"])) for r in at_alipay} == {
        (first.name.rsplit("/", 1)[1], 300), (second.name.rsplit("/", 1)[1], 200), (rest.name.rsplit("/", 1)[1], 500)}

    # Nothing is left to refund.
    with pytest.raises(grpc.RpcError) as err:
        refund(app, payment, "R-4", 1)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(err.value)[1].reason == "PAYMENT_NOT_REFUNDABLE"


def test_the_same_out_refund_no_is_the_same_refund(app: CashierClient, alipay: LocalAlipay, gateway) -> None:  # type: ignore[no-untyped-def]
    payment = paid_payment(app, alipay, 1000)
    first = refund(app, payment, "SAME-1", 400)
    again = refund(app, payment, "SAME-1", 400)
    assert again == first
    assert len(sandbox_refunds(alipay, payment)) == 1  # no second money movement
    assert get_payment(app, payment.name).refunded_amount == 400

    with pytest.raises(grpc.RpcError) as err:
        refund(app, payment, "SAME-1", 500)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    _, info = error_details(err.value)
    assert info.reason == "OUT_REFUND_NO_IN_USE"
    assert info.metadata["refund"] == first.name.rsplit("/", 1)[1]
    assert "SAME-1" in err.value.details() and "400" in err.value.details()
    assert stored_refunds(gateway) == 1


def test_over_refund_names_what_is_left_and_an_unpaid_payment_is_refused(app: CashierClient, alipay: LocalAlipay,
                                                                          gateway) -> None:  # type: ignore[no-untyped-def]
    payment = paid_payment(app, alipay, 1000)
    refund(app, payment, "OVER-1", 700)
    with pytest.raises(grpc.RpcError) as err:
        refund(app, payment, "OVER-2", 301)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    _, info = error_details(err.value)
    assert info.reason == "REFUND_EXCEEDS_PAYMENT"
    assert info.metadata["refundable_amount"] == "300"
    assert "300" in err.value.details()

    unpaid = app.create(amount=1000)
    with pytest.raises(grpc.RpcError) as err:
        refund(app, unpaid, "UNPAID-1", 100)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(err.value)[1].reason == "PAYMENT_NOT_REFUNDABLE"
    assert "PENDING" in err.value.details()
    assert stored_refunds(gateway) == 1
    assert len(sandbox_refunds(alipay, payment)) == 1


def test_bad_input_names_every_field_and_writes_nothing(app: CashierClient, alipay: LocalAlipay, gateway) -> None:  # type: ignore[no-untyped-def]
    payment = paid_payment(app, alipay, 1000)
    with pytest.raises(grpc.RpcError) as err:
        app.stub.RefundPayment(svc.RefundPaymentRequest(
            parent="shops/1", out_refund_no="no spaces!", amount=0, reason="x" * 300), metadata=app.metadata())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields, _ = error_details(err.value)
    assert set(fields) == {"parent", "out_refund_no", "amount", "reason"}
    with pytest.raises(grpc.RpcError) as err:
        app.stub.RefundPayment(svc.RefundPaymentRequest(parent=payment.name, out_refund_no="NEG", amount=-5),
                               metadata=app.metadata())
    assert set(error_details(err.value)[0]) == {"amount"}
    with pytest.raises(grpc.RpcError) as err:
        app.stub.GetRefund(svc.GetRefundRequest(name=payment.name), metadata=app.metadata())
    assert set(error_details(err.value)[0]) == {"name"}
    assert stored_refunds(gateway) == 0
    assert sandbox_refunds(alipay, payment) == []
    assert get_payment(app, payment.name).refunded_amount == 0


def test_another_merchants_refunds_are_out_of_reach(app: CashierClient, alipay: LocalAlipay, gateway) -> None:  # type: ignore[no-untyped-def]
    payment = paid_payment(app, alipay, 1000)
    made = refund(app, payment, "MINE-1", 100)
    other = seed_tenant(gateway.gateway, merchant_id="shop-2", app_id="app-2")
    md = app.metadata(key=other.key)
    for call in (lambda: app.stub.GetRefund(svc.GetRefundRequest(name=made.name), metadata=md),
                 lambda: app.stub.ListRefunds(svc.ListRefundsRequest(parent=payment.name), metadata=md),
                 lambda: app.stub.RefundPayment(svc.RefundPaymentRequest(
                     parent=payment.name, out_refund_no="THEIRS", amount=100), metadata=md)):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    missing = made.name.rsplit("/", 1)[0] + "/ref_nothing"
    with pytest.raises(grpc.RpcError) as err:
        app.stub.GetRefund(svc.GetRefundRequest(name=missing), metadata=app.metadata())
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(sandbox_refunds(alipay, payment)) == 1


def test_fifty_concurrent_refunds_never_exceed_what_was_paid(app: CashierClient, alipay: LocalAlipay, gateway) -> None:  # type: ignore[no-untyped-def]
    payment = paid_payment(app, alipay, 1000)
    calls = [lambda i=i: refund(app, payment, f"RACE-{i}", 300) for i in range(50)]
    results = run_together(calls)
    made = [r for r in results if not isinstance(r, grpc.RpcError)]
    refused = [r for r in results if isinstance(r, grpc.RpcError)]
    assert len(made) == 3 and len(refused) == 47
    assert all(r.state == rpb.REFUND_STATE_SUCCEEDED for r in made)
    for err in refused:
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
        assert error_details(err)[1].reason == "REFUND_EXCEEDS_PAYMENT"
        assert error_details(err)[1].metadata["refundable_amount"] == "100"
    at_alipay = sandbox_refunds(alipay, payment)
    assert sum(_fen(r["refund_amount"]) for r in at_alipay) == 900 and len(at_alipay) == 3
    final = get_payment(app, payment.name)
    assert (final.state, final.refunded_amount) == (pb.PAYMENT_STATE_PARTIALLY_REFUNDED, 900)
    assert stored_refunds(gateway) == 3


def refund_left_pending(app: CashierClient, alipay: LocalAlipay) -> tuple[pb.Payment, rpb.Refund]:
    """A refund of 250 of 1000 that Alipay carried out, but whose answer came too late, and the immediate
    query too: the gateway cannot tell, so the refund is PENDING. The faults are reset afterwards."""
    payment = paid_payment(app, alipay, 1000)
    faults = {"timeout": [{"method": "alipay.trade.refund", "count": 1, "seconds": 5},
                          {"method": "alipay.trade.fastpay.refund.query", "count": -1, "seconds": 5}]}
    assert httpx.post(f"{alipay.url}/sandbox/faults", json=faults).status_code == 200
    pending = refund(app, payment, "LATE-1", 250)
    assert pending.state == rpb.REFUND_STATE_PENDING
    return payment, pending


def test_an_unknown_answer_stays_pending_until_a_query_settles_it(app: CashierClient, alipay: LocalAlipay,
                                                                  gateway) -> None:  # type: ignore[no-untyped-def]
    payment, pending = refund_left_pending(app, alipay)
    held = get_payment(app, payment.name)
    assert (held.state, held.refunded_amount) == (pb.PAYMENT_STATE_SUCCEEDED, 0)
    # The amount stays held meanwhile: 751 more would exceed what was paid.
    with pytest.raises(grpc.RpcError) as err:
        refund(app, payment, "LATE-2", 751)
    assert error_details(err.value)[1].metadata["refundable_amount"] == "750"
    assert len(sandbox_refunds(alipay, payment)) == 1  # Alipay did refund

    assert httpx.delete(f"{alipay.url}/sandbox/faults").status_code == 200
    summary = gateway.gateway.refunds.resolve_pending_refunds()
    assert summary.succeeded == [pending.name.rsplit("/", 1)[1]] and not summary.pending
    settled = app.stub.GetRefund(svc.GetRefundRequest(name=pending.name), metadata=app.metadata()).refund
    assert settled.state == rpb.REFUND_STATE_SUCCEEDED
    final = get_payment(app, payment.name)
    assert (final.state, final.refunded_amount) == (pb.PAYMENT_STATE_PARTIALLY_REFUNDED, 250)
    assert len(sandbox_refunds(alipay, payment)) == 1  # settled by query, not by refunding again
    assert gateway.gateway.refunds.resolve_pending_refunds().succeeded == []


def test_cashier_recover_refunds_settles_pending_refunds(app: CashierClient, alipay: LocalAlipay, gateway,  # type: ignore[no-untyped-def]
                                                           database_url: str, tmp_path: Path) -> None:
    payment, pending = refund_left_pending(app, alipay)
    assert httpx.delete(f"{alipay.url}/sandbox/faults").status_code == 200
    config = tmp_path / "cashier.toml"
    config.write_text("[channels.alipay]\n" + "".join(f'{k} = "{v}"\n' for k, v in alipay.channel_table.items()))
    out = cashier_cli("--config", str(config), "recover", "refunds", database_url=database_url,
                      extra_env={"CASHIER_LOAD_CHANNELS": "mobile"}).stdout
    assert "1 succeeded, 0 failed, 0 still pending" in out
    settled = app.stub.GetRefund(svc.GetRefundRequest(name=pending.name), metadata=app.metadata()).refund
    assert settled.state == rpb.REFUND_STATE_SUCCEEDED
    assert get_payment(app, payment.name).refunded_amount == 250
    assert len(sandbox_refunds(alipay, payment)) == 1
