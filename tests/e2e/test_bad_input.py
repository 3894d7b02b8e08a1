"""Bad input over the real wire: each answer is INVALID_ARGUMENT naming the field, small enough to arrive,
and changes nothing. Every RPC of every service is walked from the descriptors, so a new RPC is covered."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from cashier.v1 import onboarding_pb2 as opb
from gateway.api.server import SERVICE_NAMES
from gateway.runtime import RunningGateway
from gateway.service import paging
from tests.e2e.rpc_walk import all_methods, count_rows, invoke_raw
from tests.support import CashierClient, error_details


def _refused(call, *args, **kwargs) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value


def _invalid(err: grpc.RpcError, field: str) -> str:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    fields, info = error_details(err)
    assert field in fields, fields
    assert info is not None and info.reason == "INVALID_ARGUMENT"
    return fields[field]


def _operator(server: RunningGateway) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {server.gateway.admin.create_operator('ops-1').key}")]


# --- 1. timestamps and durations --------------------------------------------------------------------


OUT_OF_RANGE_DURATIONS = [
    Duration(seconds=9223372036854775807),
    Duration(seconds=-9223372036854775808),
    Duration(seconds=315_576_000_001),
    Duration(seconds=600, nanos=-5),
    Duration(seconds=600, nanos=2_000_000_000),
    Duration(seconds=-600, nanos=5),
]
OUT_OF_RANGE_TIMES = [
    ("create_time_from", Timestamp(seconds=-2**62)),
    ("create_time_to", Timestamp(seconds=2**62)),
    ("create_time_from", Timestamp(seconds=0, nanos=-1)),
    ("create_time_to", Timestamp(seconds=1_700_000_000, nanos=1_000_000_000)),
    ("create_time_from", Timestamp(seconds=-62_135_596_801)),  # a second before 0001-01-01
    ("create_time_to", Timestamp(seconds=253_402_300_800)),  # 10000-01-01
]


def test_an_out_of_range_expiry_is_refused_by_name(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    before = count_rows(server.gateway)
    for expire_after in OUT_OF_RANGE_DURATIONS:
        err = _refused(client.stub.CreatePayment, client.request(expire_after=expire_after),
                       metadata=client.metadata())
        _invalid(err, "expire_after")
    assert count_rows(server.gateway) == before


def test_an_out_of_range_time_filter_is_refused_by_name(client: CashierClient) -> None:
    for field, stamp in OUT_OF_RANGE_TIMES:
        request = svc.ListPaymentsRequest(parent=client.tenant.parent, **{field: stamp})
        _invalid(_refused(client.stub.ListPayments, request, metadata=client.metadata()), field)


def test_the_edges_of_the_timestamp_range_are_accepted(client: CashierClient) -> None:
    client.create()
    listed = client.stub.ListPayments(svc.ListPaymentsRequest(
        parent=client.tenant.parent, create_time_from=Timestamp(seconds=-62_135_596_800),
        create_time_to=Timestamp(seconds=253_402_300_799, nanos=999_999_999)), metadata=client.metadata())
    assert len(listed.payments) == 1


# --- 2. bytes that are not a request ------------------------------------------------------------------

GARBAGE = {
    "random bytes": bytes(range(256))[::-7] * 3,
    "invalid UTF-8 in a string field": None,  # made for each method: its first string field
    "truncated": b"\x0a\x10merchants/",
    "bad wire type": b"\x0f",
}


def _invalid_utf8(method) -> bytes:  # type: ignore[no-untyped-def]
    return _invalid_utf8_in(method.input_type)


def _invalid_utf8_in(message) -> bytes:  # type: ignore[no-untyped-def]
    """A string field that is not UTF-8: the message's own, or one nested in its first message field (a request
    made of one message, such as SubmitApplication's)."""
    field = next((f for f in message.fields if f.type == f.TYPE_STRING), None)
    if field is not None:
        return bytes([field.number << 3 | 2, 2]) + b"\xc3\x28"
    field = next(f for f in message.fields if f.type == f.TYPE_MESSAGE)
    inner = _invalid_utf8_in(field.message_type)
    return bytes([field.number << 3 | 2, len(inner)]) + inner


def test_bytes_that_are_no_request_are_invalid_argument_on_every_rpc(
        server, grpc_channel, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    operator = _operator(server)
    before = count_rows(server.gateway)
    methods = all_methods(SERVICE_NAMES)
    assert len(methods) >= 13
    for kind, garbage in GARBAGE.items():
        for method in methods:
            metadata = operator if method.containing_service.name == "MerchantService" else client.metadata()
            code, details = invoke_raw(grpc_channel, method, garbage or _invalid_utf8(method), metadata)
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (kind, method.full_name, code, details)
            assert method.input_type.full_name in details, details
    assert count_rows(server.gateway) == before


def test_garbage_from_a_stranger_is_still_unauthenticated(grpc_channel) -> None:  # type: ignore[no-untyped-def]
    method = all_methods(SERVICE_NAMES)[0]
    code, _ = invoke_raw(grpc_channel, method, GARBAGE["truncated"], [])
    assert code == grpc.StatusCode.UNAUTHENTICATED


# --- 3. what an error echoes ----------------------------------------------------------------------


def _trailer_bytes(err: grpc.RpcError) -> int:
    return sum(len(k) + len(v) for k, v in err.trailing_metadata() or ())  # type: ignore[attr-defined]


def test_a_huge_name_gets_a_small_invalid_argument_on_every_name_rpc(server, grpc_channel, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    operator = _operator(server)
    huge = "merchants/tea-house/payments/" + "x" * 10240
    named = 0
    for method in all_methods(SERVICE_NAMES):
        fields = {f.name for f in method.input_type.fields}
        field = "name" if "name" in fields else "parent" if "parent" in fields else None
        if field is None:
            continue
        named += 1
        metadata = operator if method.containing_service.name == "MerchantService" else client.metadata()
        request = method.input_type._concrete_class(**{field: huge})
        code, details, trailers = invoke_raw(grpc_channel, method, request.SerializeToString(), metadata,
                                             with_trailers=True)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (method.full_name, code, details)
        assert len(details) <= 1024 and trailers <= 4096, (method.full_name, len(details), trailers)
    assert named >= 9


def test_an_echoed_value_is_cut_short(client: CashierClient) -> None:
    err = _refused(client.stub.CreatePayment, client.request(currency_code="X" * 1500), metadata=client.metadata())
    description = _invalid(err, "currency_code")
    assert len(description) <= 256 and description.endswith("…")
    assert len(err.details()) <= 1024 and _trailer_bytes(err) <= 4096


def test_thousands_of_violations_still_arrive(client: CashierClient) -> None:
    from cashier.v1 import payment_pb2 as pb
    items = [pb.LineItem(sku="s", name="", quantity=0, unit_price=-1)] * 3000
    err = _refused(client.stub.CreatePayment, client.request(line_items=items), metadata=client.metadata())
    fields, _ = error_details(err)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "line_items" in fields
    assert _trailer_bytes(err) <= 8192


def test_the_merchant_in_a_name_must_look_like_a_merchant_id(client: CashierClient) -> None:
    for merchant in ["TEA-HOUSE", "🍵", "tea\x00house", "x" * 300, "-"]:
        err = _refused(client.stub.GetPayment, svc.GetPaymentRequest(name=f"merchants/{merchant}/payments/pay_1"),
                       metadata=client.metadata())
        _invalid(err, "name")
        assert merchant not in err.details() or merchant == "-"
        if merchant == "-":
            continue  # merchants/- is ListPayments' "every merchant"
        err = _refused(client.stub.ListPayments, svc.ListPaymentsRequest(parent=f"merchants/{merchant}"),
                       metadata=client.metadata())
        _invalid(err, "parent")


def test_the_payment_and_refund_in_a_name_must_look_like_ids(client: CashierClient) -> None:
    for bad in ["pay\x00x", "pay x", "p" * 300, "pay_1/"]:
        err = _refused(client.stub.GetPayment, svc.GetPaymentRequest(name=f"{client.tenant.parent}/payments/{bad}"),
                       metadata=client.metadata())
        _invalid(err, "name")
        err = _refused(client.stub.GetRefund, svc.GetRefundRequest(
            name=f"{client.tenant.parent}/payments/pay_1/refunds/{bad}"), metadata=client.metadata())
        _invalid(err, "name")


def test_a_wildcard_parent_still_lists(client: CashierClient) -> None:
    client.create()
    listed = client.stub.ListPayments(svc.ListPaymentsRequest(parent="merchants/-"), metadata=client.metadata())
    assert len(listed.payments) == 1


def _request_id_of(client: CashierClient, request_id: str) -> str:
    call = client.stub.ListPayments.with_call(
        svc.ListPaymentsRequest(parent=client.tenant.parent),
        metadata=[*client.metadata(), ("x-request-id", request_id)])[1]
    return dict(call.initial_metadata())["x-request-id"]


def test_a_sane_request_id_is_echoed_and_a_wild_one_replaced(client: CashierClient) -> None:
    assert _request_id_of(client, "req-42:a.b_c") == "req-42:a.b_c"
    # 4 KB: beyond 8 KB of headers gRPC itself may refuse the call (its soft metadata limit).
    for wild in ("x" * 4096, "has space", "semi;colon"):
        replaced = _request_id_of(client, wild)
        assert replaced != wild and 1 <= len(replaced) <= 128


def test_two_idempotency_keys_are_refused(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    before = count_rows(server.gateway)
    err = _refused(client.stub.CreatePayment, client.request(),
                   metadata=[*client.metadata(), ("idempotency-key", "k1"), ("idempotency-key", "k2")])
    _invalid(err, "idempotency-key")
    assert count_rows(server.gateway) == before


# --- 4. enums and strings ----------------------------------------------------------------------------


BAD_APPLICATIONS = [
    ({"basic_info": opb.BasicInfo(kind=999)}, "application.basic_info.kind"),
    ({"basic_info": opb.BasicInfo(kind=-1)}, "application.basic_info.kind"),
    ({"state": 999}, "application.state"),
    ({"display_name": "Tea\x00"}, "application.display_name"),
    ({"business_info": opb.BusinessInfo(business_category="food\x7f")}, "application.business_info.business_category"),
]
BAD_STRINGS = [
    ({"return_url": "https://shop.example/\x00x"}, "return_url"),
    ({"return_url": "https://shop.example/\u0085x"}, "return_url"),
    ({"metadata": {"order": "a\x00b"}}, "metadata['order']"),
    ({"metadata": {"or\x01der": "ab"}}, "metadata['or\\x01der']"),
    ({"metadata": {"order": "x" * 600}}, "metadata['order']"),
    ({"subject": "Tea\x1b[31m"}, "subject"),
    ({"out_trade_no": "a\x00"}, "out_trade_no"),
]


def test_an_application_with_unknown_enums_or_control_characters_is_refused(server, grpc_channel) -> None:  # type: ignore[no-untyped-def]
    merchants = msvc_grpc.MerchantServiceStub(grpc_channel)
    metadata = _operator(server)
    before = count_rows(server.gateway)
    for fields, field in BAD_APPLICATIONS:
        application = opb.Application(**{"merchant_id": "tea-2", "display_name": "Tea", **fields})
        err = _refused(merchants.SubmitApplication, msvc.SubmitApplicationRequest(application=application),
                       metadata=metadata)
        _invalid(err, field)
    assert count_rows(server.gateway) == before


def test_one_rule_for_every_string(server, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    before = count_rows(server.gateway)
    for fields, field in BAD_STRINGS:
        err = _refused(client.stub.CreatePayment, client.request(**fields), metadata=client.metadata())
        _invalid(err, field)
    assert count_rows(server.gateway) == before



def test_a_forged_page_token_is_refused(server, grpc_channel, client: CashierClient) -> None:  # type: ignore[no-untyped-def]
    """Page tokens are not secret (base64 JSON and a digest of the filters): one forged with a NUL in its
    cursor is refused as a token, not sent to PostgreSQL (which cannot hold NUL in text)."""
    merchants = msvc_grpc.MerchantServiceStub(grpc_channel)
    metadata = _operator(server)
    for after in ("a\x00b", "x" * 1000, ""):
        token = paging.encode_token(after, "merchants")
        err = _refused(merchants.ListMerchants, msvc.ListMerchantsRequest(page_token=token), metadata=metadata)
        _invalid(err, "page_token")
