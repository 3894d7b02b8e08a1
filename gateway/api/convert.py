"""Translation between the wire (cashier.v1 messages) and the domain. Resource names live here."""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.timestamp_pb2 import Timestamp

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import merchant_pb2, payment_pb2, refund_pb2, routing_pb2
from channels.contract.protocol import Channel
from gateway.domain.actions import AppPay, BuyerAction, HostedCheckout, QrCode, Redirect
from gateway.domain.errors import Violations
from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan
from gateway.domain.payments import (
    ClientInfo,
    LineItem,
    NewPayment,
    Payment,
    PaymentState,
    Platform,
    Scenario,
)
from gateway.domain.refunds import NewRefund, Refund, RefundState
from gateway.domain.validation import MERCHANT_ID, MERCHANT_ID_RULE, OUT_TRADE_NO
from gateway.service.payments import PreviewRoute
from gateway.service.routing import RouteDecision

_MERCHANT_NAME = re.compile(r"merchants/([^/]+)")
_PAYMENT_NAME = re.compile(r"merchants/([^/]+)/payments/([^/]+)")
_REFUND_NAME = re.compile(r"merchants/([^/]+)/payments/([^/]+)/refunds/([^/]+)")
# Payment and refund ids are ours (pay_…, ref_…); anything outside this shape cannot name one, and is
# refused before it reaches a query.
_RESOURCE_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
DEFAULT_EXPIRY = timedelta(minutes=30)


E = TypeVar("E", bound=enum.Enum)
P = TypeVar("P", bound=int)


def enum_maps(pb_enum: type[P], prefix: str, domain_enum: type[E]) -> tuple[dict[P, E], dict[E, P]]:
    # mypy-protobuf declares a proto enum as an int subclass whose metaclass is EnumTypeWrapper; at run time
    # it is that wrapper and its values are plain ints, which the messages accept as the enum's values.
    to_domain: dict[P, E] = {}
    for name, number in cast(EnumTypeWrapper, pb_enum).items():
        short = name.removeprefix(prefix)
        if short in domain_enum.__members__:
            to_domain[cast(P, number)] = domain_enum[short]
    return to_domain, {v: k for k, v in to_domain.items()}


PLATFORM_IN, PLATFORM_OUT = enum_maps(payment_pb2.Platform, "PLATFORM_", Platform)
SCENARIO_IN, SCENARIO_OUT = enum_maps(payment_pb2.Scenario, "SCENARIO_", Scenario)
STATE_IN, STATE_OUT = enum_maps(payment_pb2.PaymentState, "PAYMENT_STATE_", PaymentState)
MERCHANT_STATE_IN, MERCHANT_STATE_OUT = enum_maps(merchant_pb2.MerchantState, "MERCHANT_STATE_", MerchantState)
PLAN_IN, PLAN_OUT = enum_maps(merchant_pb2.SettlementPlan, "SETTLEMENT_PLAN_", SettlementPlan)
REFUND_STATE_IN, REFUND_STATE_OUT = enum_maps(refund_pb2.RefundState, "REFUND_STATE_", RefundState)


# --- names ----------------------------------------------------------------------------------------


def _merchant_ok(merchant_id: str, allow_wildcard: bool = False) -> bool:
    return bool(MERCHANT_ID.fullmatch(merchant_id)) or (allow_wildcard and merchant_id == "-")


def merchant_id_from(v: Violations, field: str, name: str, *, allow_wildcard: bool = False) -> str:
    match = _MERCHANT_NAME.fullmatch(name)
    if match is None or not _merchant_ok(match.group(1), allow_wildcard):
        wildcard = " or merchants/-" if allow_wildcard else ""
        v.add(field, f"must be a merchant name such as merchants/shop-1{wildcard} (merchant id: {MERCHANT_ID_RULE})")
        return ""
    return match.group(1)


def payment_name_parts(v: Violations, field: str, name: str) -> tuple[str, str]:
    match = _PAYMENT_NAME.fullmatch(name)
    if match is None or not _merchant_ok(match.group(1)) or not _RESOURCE_ID.fullmatch(match.group(2)):
        v.add(field, "must be a payment name such as merchants/shop-1/payments/pay_…")
        return "", ""
    return match.group(1), match.group(2)


def payment_name(p: Payment) -> str:
    return f"merchants/{p.merchant_id}/payments/{p.id}"


def refund_name_parts(v: Violations, field: str, name: str) -> tuple[str, str, str]:
    match = _REFUND_NAME.fullmatch(name)
    if (match is None or not _merchant_ok(match.group(1)) or not _RESOURCE_ID.fullmatch(match.group(2))
            or not _RESOURCE_ID.fullmatch(match.group(3))):
        v.add(field, "must be a refund name such as merchants/shop-1/payments/pay_…/refunds/ref_…")
        return "", "", ""
    return match.group(1), match.group(2), match.group(3)


def refund_name(r: Refund) -> str:
    return f"merchants/{r.merchant_id}/payments/{r.payment_id}/refunds/{r.id}"


# --- requests -------------------------------------------------------------------------------------


def client_from(v: Violations, field: str, msg: payment_pb2.Client) -> ClientInfo:
    platform = PLATFORM_IN.get(msg.platform)
    if platform is None:
        v.add(f"{field}.platform", "required: the buyer's platform, e.g. PLATFORM_IOS_APP or PLATFORM_PC_BROWSER")
        platform = Platform.PC_BROWSER
    return ClientInfo(platform, msg.app_name, msg.app_version, msg.user_agent)


def scenario_from(v: Violations, field: str, value: payment_pb2.Scenario) -> Scenario:
    if value == payment_pb2.SCENARIO_UNSPECIFIED:
        return Scenario.OTHER
    scenario = SCENARIO_IN.get(value)
    if scenario is None:
        v.add(field, f"unknown scenario {value}")
        return Scenario.OTHER
    return scenario


def new_payment_from(v: Violations, req: svc.CreatePaymentRequest) -> NewPayment:
    merchant_id = merchant_id_from(v, "parent", req.parent)
    expire_after = DEFAULT_EXPIRY
    if req.HasField("expire_after"):  # within protobuf's range (request_checks): converts without overflow
        expire_after = req.expire_after.ToTimedelta()
    return NewPayment(
        merchant_id=merchant_id,
        out_trade_no=req.out_trade_no,
        amount=req.amount,
        currency=req.currency_code,
        subject=req.subject,
        client=client_from(v, "client", req.client),
        scenario=scenario_from(v, "scenario", req.scenario),
        line_items=tuple(LineItem(i.sku, i.name, i.quantity, i.unit_price) for i in req.line_items),
        return_url=req.return_url,
        expire_after=expire_after,
        metadata=dict(req.metadata),
        scan_to_pay=req.scan_to_pay,
    )


def route_request_from(v: Violations, req: svc.PreviewRouteRequest) -> PreviewRoute:
    """PreviewRoute's request, decoded as new_payment_from decodes the same fields (and in the same order)."""
    merchant_id = merchant_id_from(v, "parent", req.parent)
    client = client_from(v, "client", req.client)
    scenario = scenario_from(v, "scenario", req.scenario)
    return PreviewRoute(merchant_id, req.amount, req.currency_code, client, scenario, req.scan_to_pay)


def new_refund_from(v: Violations, req: svc.RefundPaymentRequest) -> NewRefund:
    merchant_id, payment_id = payment_name_parts(v, "parent", req.parent)
    return NewRefund(merchant_id=merchant_id, payment_id=payment_id, out_refund_no=req.out_refund_no,
                     amount=req.amount, reason=req.reason)


def out_trade_no_filter(v: Violations, field: str, value: str) -> str | None:
    """ListPayments' order-number filter: None when not set; checked as CreatePayment checks the number."""
    if not value:
        return None
    if not OUT_TRADE_NO.fullmatch(value):
        v.add(field, "must be a merchant's order number: 1-64 letters, digits, '_' or '-'")
        return None
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp_to_datetime(ts: Timestamp) -> datetime:
    """A time filter, within protobuf's range (request_checks). Nothing was created before 1970, and the
    time-sorted ids cannot express it: an earlier time means the epoch."""
    return max(ts.ToDatetime(tzinfo=UTC), _EPOCH)


# --- responses ------------------------------------------------------------------------------------


def timestamp(dt: datetime) -> Timestamp:
    # Integer arithmetic on the timedelta: five times cheaper than Timestamp.FromDatetime, same value.
    since = (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000)


def action_to_proto(action: BuyerAction | None) -> payment_pb2.BuyerAction:
    msg = payment_pb2.BuyerAction()
    if isinstance(action, AppPay):
        msg.app_pay.order_string = action.order_string
    elif isinstance(action, Redirect):
        msg.redirect.url = action.url
        msg.redirect.form_html = action.form_html
    elif isinstance(action, QrCode):
        msg.qr_code.code = action.code
        msg.qr_code.svg = action.svg
        msg.qr_code.png = action.png
    elif isinstance(action, HostedCheckout):
        msg.hosted_checkout.url = action.url
        if action.expires_at:
            msg.hosted_checkout.expire_time.CopyFrom(timestamp(action.expires_at))
    return msg


def payment_to_proto(p: Payment) -> payment_pb2.Payment:
    """The Payment message; without `action` when the payment carries none (a payment rebuilt from an
    event's snapshot: webhooks never carry the buyer action)."""
    msg = payment_pb2.Payment(
        name=payment_name(p),
        out_trade_no=p.out_trade_no,
        amount=p.amount,
        currency_code=p.currency,
        subject=p.subject,
        line_items=[payment_pb2.LineItem(sku=i.sku, name=i.name, quantity=i.quantity, unit_price=i.unit_price)
                    for i in p.line_items],
        state=STATE_OUT[p.state],
        channel=p.channel,
        client=payment_pb2.Client(platform=PLATFORM_OUT[p.client.platform], app_name=p.client.app_name,
                                  app_version=p.client.app_version, user_agent=p.client.user_agent),
        scenario=SCENARIO_OUT[p.scenario],
        action=action_to_proto(p.action),
        return_url=p.return_url,
        create_time=timestamp(p.created_at),
        update_time=timestamp(p.updated_at),
        expire_time=timestamp(p.expires_at),
        metadata=dict(p.metadata),
        scan_to_pay=p.scan_to_pay,
        refunded_amount=p.refunded_amount,
        channel_reference=p.channel_reference,
    )
    if p.paid_at is not None:
        msg.paid_time.CopyFrom(timestamp(p.paid_at))
    if p.action is None:
        msg.ClearField("action")
    return msg


def refund_to_proto(r: Refund) -> refund_pb2.Refund:
    return refund_pb2.Refund(
        name=refund_name(r), out_refund_no=r.out_refund_no, amount=r.amount, currency_code=r.currency,
        reason=r.reason, state=REFUND_STATE_OUT[r.state], failure_reason=r.failure_reason,
        create_time=timestamp(r.created_at), update_time=timestamp(r.updated_at), channel_reference=r.channel_reference,
    )


def route_to_proto(decision: RouteDecision) -> svc.PreviewRouteResponse:
    return svc.PreviewRouteResponse(
        channel=decision.channel.name if decision.channel else "",
        candidates=[routing_pb2.RouteCandidate(channel=c.channel, offered=c.offered, priority=c.priority,
                                               reason=c.reason, rule=c.rule, chosen=c.chosen)
                    for c in decision.candidates],
        refusal=decision.refusal,
    )


def channel_to_proto(channel: Channel, plugin: str, version: str) -> routing_pb2.Channel:
    return routing_pb2.Channel(
        name=channel.name, display_name=channel.display_name, plugin=plugin, version=version,
        actions=list(channel.actions), platforms=[p.value for p in channel.platforms],
        scenarios=[s.value for s in channel.scenarios],
    )


def merchant_to_proto(m: Merchant) -> merchant_pb2.Merchant:
    return merchant_pb2.Merchant(
        name=f"merchants/{m.id}", display_name=m.display_name, state=MERCHANT_STATE_OUT[m.state],
        collection_enabled=m.collection_enabled, business_category=m.business_category,
        settlement_plan=PLAN_OUT[m.settlement_plan], create_time=timestamp(m.created_at),
    )
