"""A client retrying a refund (the same out_refund_no sent again while the first call is still running) gets
the same refund, never an error, on SQLite and PostgreSQL. On PostgreSQL this once deadlocked: reserving a
refund locked the payment row, then the refund's unique index entry; recording the outcome locked the refund
row, then the payment row. The storage package's docstring states the one lock order that prevents it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import grpc
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import refund_pb2 as rpb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.runtime import RunningGateway
from tests.e2e.test_concurrency import run_together
from tests.e2e.test_refunds import _fen, get_payment, paid_payment, refund, sandbox_refunds, stored_refunds
from tests.support import CashierClient, make_settings, running_gateway

PAYMENTS = 4
# Per payment: 900 of 1000. A late copy of A finds too little left to hold its amount again; a copy of C
# that comes while only A and B are held can hold it, and meets C's refund row in the INSERT.
REFUNDS = {"RETRY-A": 300, "RETRY-B": 200, "RETRY-C": 400}
COPIES = 5  # of each refund, all sent at once: 4 × 3 × 5 = 60 calls per round
ROUNDS = 3


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    settings = make_settings(database_url, channels={"alipay": alipay.channel_table},
                             server={"threads": 32}, database={"pool_size": 16})
    with running_gateway(settings, housekeeping=False) as running:
        yield running


def test_retried_refunds_arriving_together_are_one_refund_each(app: CashierClient, alipay: LocalAlipay,
                                                                gateway: RunningGateway) -> None:
    for _ in range(ROUNDS):
        paid = [paid_payment(app, alipay, 1000) for _ in range(PAYMENTS)]
        keys = [(p, number) for p in paid for number in REFUNDS for _ in range(COPIES)]
        results = run_together([lambda p=p, n=n: refund(app, p, n, REFUNDS[n]) for p, n in keys])

        errors = [r for r in results if isinstance(r, grpc.RpcError)]
        codes = Counter(e.code().name for e in errors)
        assert not errors, f"{len(errors)} of {len(results)} retried refunds failed: {dict(codes)}, " \
                           f"first: {errors[0].details()}"
        answers: dict[tuple[str, str], set[str]] = {}
        for (payment, number), made in zip(keys, results, strict=True):
            assert (made.out_refund_no, made.amount) == (number, REFUNDS[number])
            answers.setdefault((payment.name, number), set()).add(made.name)
        assert all(len(names) == 1 for names in answers.values()), answers  # every copy: the same refund

        for (_, _), names in answers.items():
            (name,) = names
            settled = app.stub.GetRefund(svc.GetRefundRequest(name=name), metadata=app.metadata()).refund
            assert settled.state == rpb.REFUND_STATE_SUCCEEDED, (name, rpb.RefundState.Name(settled.state))
        for payment in paid:
            final = get_payment(app, payment.name)
            assert (final.state, final.refunded_amount) == (pb.PAYMENT_STATE_PARTIALLY_REFUNDED, sum(REFUNDS.values()))
            at_alipay = sandbox_refunds(alipay, payment)  # one money movement per refund, no more
            assert sorted(_fen(r["refund_amount"]) for r in at_alipay) == sorted(REFUNDS.values())
    assert stored_refunds(gateway) == ROUNDS * PAYMENTS * len(REFUNDS)
