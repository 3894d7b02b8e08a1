"""The one place the gateway turns its aggregates into the plugin contract's views, and back.

Channels and plugins never see `Payment`, `Merchant` or `Refund` (channels/contract/views.py says why):
every call into a plugin passes through here, so reshaping an aggregate means changing this module only.
"""

from __future__ import annotations

from channels.contract.protocol import MisdirectionKind, RouteRequest
from channels.contract.views import MerchantView, PaymentView, RefundView
from gateway.domain.flags import FlagKind
from gateway.domain.merchants import Merchant
from gateway.domain.payments import ClientInfo, Payment, Scenario
from gateway.domain.refunds import Refund


def merchant_view(merchant: Merchant) -> MerchantView:
    return MerchantView(id=merchant.id, display_name=merchant.display_name,
                        business_category=merchant.business_category)


def payment_view(payment: Payment) -> PaymentView:
    return PaymentView(
        id=payment.id, merchant_id=payment.merchant_id, out_trade_no=payment.out_trade_no,
        amount=payment.amount, currency=payment.currency, subject=payment.subject, client=payment.client,
        scenario=payment.scenario, channel=payment.channel, state=payment.state, expires_at=payment.expires_at,
        return_url=payment.return_url, scan_to_pay=payment.scan_to_pay, checkout_token=payment.checkout_token,
        buyer_id=payment.buyer_id,
    )


def refund_view(refund: Refund) -> RefundView:
    return RefundView(id=refund.id, payment_id=refund.payment_id, amount=refund.amount, currency=refund.currency,
                      state=refund.state, reason=refund.reason)


def route_request(merchant: Merchant, amount: int, currency: str, client: ClientInfo, scenario: Scenario,
                  scan_to_pay: bool = False) -> RouteRequest:
    return RouteRequest(merchant_view(merchant), amount, currency, client, scenario, scan_to_pay)


def flag_kind(kind: MisdirectionKind) -> FlagKind:
    """The operator flag for a channel's misdirected notification: the contract's kinds are a subset."""
    return FlagKind(kind.value)
