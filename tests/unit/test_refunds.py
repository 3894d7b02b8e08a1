"""The refund rules of the domain: what can be refunded, how much, and where the payment goes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.domain.actions import AppPay
from gateway.domain.errors import FailedPrecondition, InvalidArgument
from gateway.domain.payments import ClientInfo, NewPayment, Payment, PaymentState, Platform, Scenario
from gateway.domain.refunds import NewRefund, Refund, RefundState
from gateway.domain.validation import validate_new_refund

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def paid(amount: int = 1000) -> Payment:
    new = NewPayment("shop-1", "order-1", amount, "CNY", "Tea", ClientInfo(Platform.IOS_APP), Scenario.OTHER)
    payment = Payment.create(payment_id="pay_1", app_id="app-1", new=new, channel="mobile", now=NOW)
    return payment.with_action(AppPay("x")).paid(NOW, "trade-1")


def test_refunds_move_the_payment_to_partially_refunded_then_refunded() -> None:
    payment = paid().refund_reserved_for(300)
    payment = payment.refund_settled(300, NOW)
    assert (payment.state, payment.refunded_amount, payment.refundable) == (PaymentState.PARTIALLY_REFUNDED, 300, 700)
    payment = payment.refund_reserved_for(700).refund_settled(700, NOW)
    assert (payment.state, payment.refunded_amount, payment.refundable) == (PaymentState.REFUNDED, 1000, 0)


def test_pending_refunds_count_against_what_is_left() -> None:
    payment = paid().refund_reserved_for(600)
    with pytest.raises(FailedPrecondition) as err:
        payment.check_refundable(401)
    assert err.value.reason == "REFUND_EXCEEDS_PAYMENT"
    assert err.value.metadata["refundable_amount"] == "400" and "400" in err.value.message
    payment.check_refundable(400)


@pytest.mark.parametrize("state", [PaymentState.PENDING, PaymentState.CLOSED, PaymentState.FAILED,
                                   PaymentState.REFUNDED])
def test_only_paid_payments_refund(state: PaymentState) -> None:
    with pytest.raises(FailedPrecondition) as err:
        replace(paid(), state=state).check_refundable(1)
    assert err.value.reason == "PAYMENT_NOT_REFUNDABLE" and state.value in err.value.message


def test_a_refund_settles_once() -> None:
    new = NewRefund("shop-1", "pay_1", "R-1", 100)
    refund = Refund.create(refund_id="ref_1", app_id="app-1", new=new, currency="CNY", now=NOW)
    assert refund.state is RefundState.PENDING
    done = refund.succeeded(NOW)
    assert done.state is RefundState.SUCCEEDED and done.succeeded(NOW) is done
    with pytest.raises(FailedPrecondition):
        done.failed(NOW, "late")
    failed = refund.failed(NOW, "ACQ.TRADE_HAS_FINISHED")
    assert failed.failure_reason == "ACQ.TRADE_HAS_FINISHED"


def test_validation_names_every_bad_field() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_new_refund(NewRefund("shop-1", "pay_1", "", 0, "bad\x00reason"))
    assert {v.field for v in err.value.violations} == {"out_refund_no", "amount", "reason"}
    validate_new_refund(NewRefund("shop-1", "pay_1", "R_1-a", 1, "broken cup"))
