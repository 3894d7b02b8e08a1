"""Thin servicers: decode the request, call one service-layer use case, encode the answer."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
from cashier.v1 import operator_service_pb2 as ops
from cashier.v1 import operator_service_pb2_grpc as ops_grpc
from gateway.api import convert
from gateway.api.interceptor import current_principal
from gateway.domain.errors import Violations
from gateway.domain.merchants import MerchantState, SettlementPlan
from gateway.domain.validation import check_amount, check_currency, validate_new_payment, validate_new_refund
from gateway.service import paging
from gateway.service.admin import NewMerchant
from gateway.service.payments import CreatePayment, ListPayments, PreviewRoute
from gateway.service.refunds import ListRefunds, RefundPayment
from gateway.service.watch import WatchPayment

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway

IDEMPOTENCY_HEADER = "idempotency-key"


def _idempotency_key(v: Violations, context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata():
        if key == IDEMPOTENCY_HEADER:
            if not 1 <= len(value) <= 255 or not value.isprintable() or not value.isascii():
                v.add(IDEMPOTENCY_HEADER, "metadata must be 1-255 printable ASCII characters")
                return None
            return value
    return None


class CashierServicer(svc_grpc.CashierServiceServicer):
    def __init__(self, gateway: Gateway):
        self.payments = gateway.payments
        self.gateway = gateway

    def CreatePayment(self, request: svc.CreatePaymentRequest, context: grpc.ServicerContext) -> svc.CreatePaymentResponse:
        v = Violations()
        new = convert.new_payment_from(v, request)
        key = _idempotency_key(v, context)
        validate_new_payment(new, v)
        # Only a request with an idempotency-key is ever compared with an earlier one.
        fingerprint = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest() if key else ""
        payment = self.payments.create(CreatePayment(current_principal(), new, key, fingerprint))
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
        ))
        return svc.ListPaymentsResponse(payments=[convert.payment_to_proto(p) for p in payments],
                                        next_page_token=token)

    def ClosePayment(self, request: svc.ClosePaymentRequest, context: grpc.ServicerContext) -> svc.ClosePaymentResponse:
        v = Violations()
        merchant_id, payment_id = convert.payment_name_parts(v, "name", request.name)
        v.raise_if_any()
        payment = self.payments.close(current_principal(), merchant_id, payment_id)
        return svc.ClosePaymentResponse(payment=convert.payment_to_proto(payment))

    def PreviewRoute(self, request: svc.PreviewRouteRequest, context: grpc.ServicerContext) -> svc.PreviewRouteResponse:
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "parent", request.parent)
        check_amount(v, "amount", request.amount)
        check_currency(v, "currency_code", request.currency_code)
        client = convert.client_from(v, "client", request.client)
        scenario = convert.scenario_from(v, "scenario", request.scenario)
        v.raise_if_any()
        decision = self.payments.preview(PreviewRoute(
            current_principal(), merchant_id, request.amount, request.currency_code, client, scenario,
            request.scan_to_pay))
        return convert.route_to_proto(decision)

    def ListChannels(self, request: svc.ListChannelsRequest, context: grpc.ServicerContext) -> svc.ListChannelsResponse:
        size = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, "channels")
        listed = [c for c in self.gateway.channels if after is None or c.name > after]
        page = listed[:size]
        token = paging.encode_token(page[-1].name, "channels") if len(listed) > size else ""
        return svc.ListChannelsResponse(
            channels=[convert.channel_to_proto(c, *self.gateway.channel_origin(c.name)) for c in page],
            next_page_token=token)


    def RefundPayment(self, request: svc.RefundPaymentRequest, context: grpc.ServicerContext) -> svc.RefundPaymentResponse:
        v = Violations()
        new = convert.new_refund_from(v, request)
        validate_new_refund(new, v)
        refund = self.gateway.refunds.refund(RefundPayment(current_principal(), new))
        return svc.RefundPaymentResponse(refund=convert.refund_to_proto(refund))

    def GetRefund(self, request: svc.GetRefundRequest, context: grpc.ServicerContext) -> svc.GetRefundResponse:
        v = Violations()
        merchant_id, payment_id, refund_id = convert.refund_name_parts(v, "name", request.name)
        v.raise_if_any()
        refund = self.gateway.refunds.get(current_principal(), merchant_id, payment_id, refund_id)
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
        refunds, token = self.gateway.refunds.list(ListRefunds(
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
        watch = WatchPayment(current_principal(), merchant_id, payment_id, request.follow_refunds)
        for payment in self.gateway.watches.watch(watch, left):
            yield svc.WatchPaymentResponse(payment=convert.payment_to_proto(payment))


class OperatorServicer(ops_grpc.OperatorServiceServicer):
    def __init__(self, gateway: Gateway):
        self.admin = gateway.admin

    def CreateMerchant(self, request: ops.CreateMerchantRequest, context: grpc.ServicerContext) -> ops.CreateMerchantResponse:
        m = request.merchant
        merchant = self.admin.create_merchant(NewMerchant(
            merchant_id=request.merchant_id,
            display_name=m.display_name,
            business_category=m.business_category or "general",
            state=convert.MERCHANT_STATE_IN.get(m.state, MerchantState.SUBMITTED),
            # Until onboarding arrives, an operator vouches for the account by asking for collection.
            settlement_account_verified=m.collection_enabled,
            settlement_plan=convert.PLAN_IN.get(m.settlement_plan, SettlementPlan.T15),
        ), field_prefix="merchant.")
        return ops.CreateMerchantResponse(merchant=convert.merchant_to_proto(merchant))

    def GetMerchant(self, request: ops.GetMerchantRequest, context: grpc.ServicerContext) -> ops.GetMerchantResponse:
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "name", request.name)
        v.raise_if_any()
        return ops.GetMerchantResponse(merchant=convert.merchant_to_proto(self.admin.get_merchant(merchant_id)))

    def ListMerchants(self, request: ops.ListMerchantsRequest, context: grpc.ServicerContext) -> ops.ListMerchantsResponse:
        merchants, token = self.admin.list_merchants(request.page_size, request.page_token)
        return ops.ListMerchantsResponse(merchants=[convert.merchant_to_proto(m) for m in merchants],
                                         next_page_token=token)
