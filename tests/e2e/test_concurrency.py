"""Exactly-once creation under real concurrency: 50 simultaneous gRPC calls, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
from sqlalchemy import func, select

from cashier.v1 import cashier_service_pb2 as svc
from gateway.storage.tables import idempotency_keys, payments
from tests.support import CashierClient, error_details

CALLS = 50


def run_together(calls: list) -> list:  # type: ignore[type-arg]
    """Start every call at the same instant (a barrier), each on its own thread; return results or errors."""
    barrier = threading.Barrier(len(calls))

    def run(call):  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            return call()
        except grpc.RpcError as err:
            return err

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def stored(server, table) -> int:  # type: ignore[no-untyped-def]
    with server.gateway.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_fifty_identical_calls_make_one_payment_and_fifty_equal_answers(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    request = client.request(out_trade_no="RACE-1")
    md = client.metadata("same-key")
    results = run_together([lambda: client.stub.CreatePayment(request, metadata=md)] * CALLS)
    errors = [r for r in results if isinstance(r, grpc.RpcError)]
    assert errors == []
    assert all(r == results[0] for r in results)
    assert isinstance(results[0], svc.CreatePaymentResponse)
    assert stored(server, payments) == 1
    assert stored(server, idempotency_keys) == 1


def test_fifty_amounts_for_one_out_trade_no_make_one_payment_and_49_refusals(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    requests = [client.request(out_trade_no="RACE-2", amount=100 + i) for i in range(CALLS)]
    results = run_together([lambda r=r: client.stub.CreatePayment(r, metadata=client.metadata()) for r in requests])
    created = [r for r in results if not isinstance(r, grpc.RpcError)]
    refused = [r for r in results if isinstance(r, grpc.RpcError)]
    assert len(created) == 1 and len(refused) == CALLS - 1
    for err in refused:
        assert err.code() == grpc.StatusCode.ALREADY_EXISTS
        assert error_details(err)[1].reason == "OUT_TRADE_NO_IN_USE"
        assert "RACE-2" in err.details()
    assert stored(server, payments) == 1
    name = created[0].payment.name
    assert all(name.endswith(error_details(e)[1].metadata["payment"]) for e in refused)


def test_fifty_different_requests_under_one_key_make_one_payment(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    requests = [client.request(out_trade_no=f"RACE-3-{i}") for i in range(CALLS)]
    results = run_together([lambda r=r: client.stub.CreatePayment(r, metadata=client.metadata("one-key"))
                            for r in requests])
    created = [r for r in results if not isinstance(r, grpc.RpcError)]
    assert len(created) == 1
    assert all(error_details(r)[1].reason == "IDEMPOTENCY_KEY_REUSED"
               for r in results if isinstance(r, grpc.RpcError))
    assert stored(server, payments) == 1
