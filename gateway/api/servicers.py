"""Thin servicers: decode the request, call one service-layer use case, encode the answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
from gateway.api import convert
from gateway.api.idempotency import idempotent
from gateway.api.interceptor import _bearer, current_principal
from gateway.domain.errors import Violations
from gateway.domain.refunds import RefundState
from gateway.domain.validation import validate_new_payment, validate_new_refund, validate_route_request
from gateway.service import paging
from gateway.service.payments import CreatePayment, ListPayments
from gateway.service.ports import IdempotencyRecord
from gateway.service.refunds import ListRefunds, RefundPayment
from gateway.service.services import Services
from gateway.service.watch import WatchPayment

CASHIER = svc.DESCRIPTOR.services_by_name["CashierService"].full_name


# How each writing RPC rebuilds its answer from an idempotency record whose call acted (the claim committed with
# the change) but whose answer was never stored: the process died in between, or the call is still running.
def _created_payment(servicer: CashierServicer, request: svc.CreatePaymentRequest,
                     record: IdempotencyRecord) -> svc.CreatePaymentResponse | None:
    payment = servicer.payments.as_created(current_principal(), record.merchant_id, record.resource_id or "")
    return svc.CreatePaymentResponse(payment=convert.payment_to_proto(payment))


def _closed_payment(servicer: CashierServicer, request: svc.ClosePaymentRequest,
                    record: IdempotencyRecord) -> svc.ClosePaymentResponse | None:
    payment = servicer.payments.get(current_principal(), record.merchant_id, record.resource_id or "")
    return svc.ClosePaymentResponse(payment=convert.payment_to_proto(payment))


def _settled_refund(servicer: CashierServicer, request: svc.RefundPaymentRequest,
                    record: IdempotencyRecord) -> svc.RefundPaymentResponse | None:
    """The refund once the channel's answer is recorded; None (in progress) while it is awaited."""
    payment_id = request.parent.rsplit("/", 1)[-1]
    refund = servicer.services.refunds.get(current_principal(), record.merchant_id, payment_id,
                                           record.resource_id or "")
    if refund.state is RefundState.PENDING:
        return None
    return svc.RefundPaymentResponse(refund=convert.refund_to_proto(refund))


class CashierServicer(svc_grpc.CashierServiceServicer):
    def __init__(self, services: Services):
        self.payments = services.payments
        self.services = services
        self.idempotency = services.idempotency

    @idempotent(CASHIER, scope="parent", rebuild=_created_payment)
    def CreatePayment(self, request: svc.CreatePaymentRequest, context: grpc.ServicerContext) -> svc.CreatePaymentResponse:
        v = Violations()
        new = convert.new_payment_from(v, request)
        validate_new_payment(new, v)
        payment = self.payments.create(CreatePayment(current_principal(), new))
        return svc.CreatePaymentResponse(payment=convert.payment_to_proto(payment))

    def GetPayment(self, request: svc.GetPaymentRequest, context: grpc.ServicerContext) -> svc.GetPaymentResponse:
        v = Violations()
        merchant_id, payment_id = convert.payment_name_parts(v, "name", request.name)
        v.raise_if_any()
        payment = self.payments.get(current_principal(), merchant_id, payment_id)
        return svc.GetPaymentResponse(payment=convert.payment_to_proto(payment))

    def ListPayments(self, request: svc.ListPaymentsRequest, context: grpc.ServicerContext) -> svc.ListPaymentsResponse:
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "parent", request.parent, allow_wildcard=True)
        state = None
        if request.state:
            state = convert.STATE_IN.get(request.state)
            if state is None:
                v.add("state", f"unknown state {request.state}")
        if request.page_size < 0:
            v.add("page_size", "must not be negative")
        out_trade_no = convert.out_trade_no_filter(v, "out_trade_no", request.out_trade_no)
        v.raise_if_any()
        payments, token = self.payments.list(ListPayments(
            principal=current_principal(),
            merchant_id=merchant_id,
            state=state,
            created_from=convert.timestamp_to_datetime(request.create_time_from)
            if request.HasField("create_time_from") else None,
            created_to=convert.timestamp_to_datetime(request.create_time_to)
            if request.HasField("create_time_to") else None,
            page_size=request.page_size,
            page_token=request.page_token,
            out_trade_no=out_trade_no,
        ))
        return svc.ListPaymentsResponse(payments=[convert.payment_to_proto(p) for p in payments],
                                        next_page_token=token)

    @idempotent(CASHIER, scope="name", rebuild=_closed_payment)
    def ClosePayment(self, request: svc.ClosePaymentRequest, context: grpc.ServicerContext) -> svc.ClosePaymentResponse:
        v = Violations()
        merchant_id, payment_id = convert.payment_name_parts(v, "name", request.name)
        v.raise_if_any()
        payment = self.payments.close(current_principal(), merchant_id, payment_id)
        return svc.ClosePaymentResponse(payment=convert.payment_to_proto(payment))

    def PreviewRoute(self, request: svc.PreviewRouteRequest, context: grpc.ServicerContext) -> svc.PreviewRouteResponse:
        # CreatePayment's decoding, validation and merchant check: the preview refuses what creation would.
        v = Violations()
        preview = convert.route_request_from(v, request)
        validate_route_request(preview.amount, preview.currency, preview.client, v)
        return convert.route_to_proto(self.payments.preview(current_principal(), preview))

    def ListChannels(self, request: svc.ListChannelsRequest, context: grpc.ServicerContext) -> svc.ListChannelsResponse:
        size = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, "channels")
        listed = [c for c in self.services.channels if after is None or c.name > after]
        page = listed[:size]
        token = paging.encode_token(page[-1].name, "channels") if len(listed) > size else ""
        return svc.ListChannelsResponse(
            channels=[convert.channel_to_proto(c, *self.services.channel_origin(c.name)) for c in page],
            next_page_token=token)


    @idempotent(CASHIER, scope="parent", rebuild=_settled_refund)
    def RefundPayment(self, request: svc.RefundPaymentRequest, context: grpc.ServicerContext) -> svc.RefundPaymentResponse:
        v = Violations()
        new = convert.new_refund_from(v, request)
        validate_new_refund(new, v)
        refund = self.services.refunds.refund(RefundPayment(current_principal(), new))
        return svc.RefundPaymentResponse(refund=convert.refund_to_proto(refund))

    def GetRefund(self, request: svc.GetRefundRequest, context: grpc.ServicerContext) -> svc.GetRefundResponse:
        v = Violations()
        merchant_id, payment_id, refund_id = convert.refund_name_parts(v, "name", request.name)
        v.raise_if_any()
        refund = self.services.refunds.get(current_principal(), merchant_id, payment_id, refund_id)
        return svc.GetRefundResponse(refund=convert.refund_to_proto(refund))

    def ListRefunds(self, request: svc.ListRefundsRequest, context: grpc.ServicerContext) -> svc.ListRefundsResponse:
        v = Violations()
        merchant_id, payment_id = convert.payment_name_parts(v, "parent", request.parent)
        state = None
        if request.state:
            state = convert.REFUND_STATE_IN.get(request.state)
            if state is None:
                v.add("state", f"unknown state {request.state}")
        if request.page_size < 0:
            v.add("page_size", "must not be negative")
        v.raise_if_any()
        refunds, token = self.services.refunds.list(ListRefunds(
            current_principal(), merchant_id, payment_id, state, request.page_size, request.page_token))
        return svc.ListRefundsResponse(refunds=[convert.refund_to_proto(r) for r in refunds],
                                       next_page_token=token)

    def WatchPayment(self, request: svc.WatchPaymentRequest, context: grpc.ServicerContext
                     ) -> Iterator[svc.WatchPaymentResponse]:
        v = Violations()
        merchant_id, payment_id = convert.payment_name_parts(v, "name", request.name)
        v.raise_if_any()
        left = threading.Event()  # set when the call ends: the client cancelled, or its deadline passed
        if not context.add_callback(left.set):
            left.set()
        # The key again, so that the watch can check every [auth] cache_seconds that it still holds.
        credentials = _bearer(dict(context.invocation_metadata()).get("authorization")) or ""
        watch = WatchPayment(current_principal(), merchant_id, payment_id, request.follow_refunds, credentials)
        for payment in self.services.watches.watch(watch, left):
            yield svc.WatchPaymentResponse(payment=convert.payment_to_proto(payment))
