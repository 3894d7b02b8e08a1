"""The plugin contract: everything a channel or plugin may import from Unified Cashier, and nothing else.

A channel imports from here (``from channels.contract import Channel, Offer, PaymentView, hookimpl``) and,
when it talks to Alipay, from the Alipay toolkit ``channels.alipay.toolkit``; never from ``gateway``. The contract
itself imports nothing of the gateway (import-linter holds both rules, see pyproject.toml), so the gateway can
change its own aggregates without breaking a plugin: it hands plugins the frozen views of ``views``.

Modules: ``protocol`` (the Channel protocol, its optional capabilities, Offer/Decline/Outcome/results),
``hookspecs`` (the pluggy hooks), ``views`` (PaymentView, MerchantView, RefundView), ``actions`` (what the
buyer's client is told to do), ``client`` (Platform, Scenario, ClientInfo), ``versions`` (app versions),
``money`` (formatting amounts), ``qr`` (QR code images), ``payouts`` (the PayoutRail protocol: transfers
to an account, for onboarding's account verification and settlement's payouts) and ``statements`` (the
StatementSource protocol: a rail's daily statements, for settlement's reconciliation).

Gateway code imports the submodules, not this package: this package also loads ``hookspecs`` (pluggy).
"""

from channels.contract.actions import ACTION_KINDS, AppPay, BuyerAction, HostedCheckout, QrCode, Redirect
from channels.contract.client import ClientInfo, Platform, Scenario
from channels.contract.hookspecs import hookimpl, hookspec
from channels.contract.money import format_minor
from channels.contract.payouts import (
    TRANSFER_NOT_FOUND,
    PayoutRail,
    Refusal,
    RefusalReason,
    TransferAnswer,
    TransferOutcome,
    TransferPurpose,
    TransferRequest,
)
from channels.contract.protocol import (
    CHECKOUT_METHODS,
    NOT_CREATED,
    REFUND_NOT_FOUND,
    Channel,
    ChannelNotification,
    ChannelResult,
    Decline,
    HostedCheckoutProvider,
    MisdirectionKind,
    NotificationMisdirected,
    NotificationReceiver,
    NotificationRejected,
    Offer,
    Outcome,
    Refunder,
    RouteRequest,
    StatusQuerier,
)
from channels.contract.statements import (
    LineKind,
    StatementKind,
    StatementLine,
    StatementNotReady,
    StatementSource,
)
from channels.contract.states import PaymentState, RefundState
from channels.contract.versions import Version, parse_version
from channels.contract.views import MerchantView, PaymentView, RefundView

__all__ = [
    "ACTION_KINDS", "AppPay", "BuyerAction", "CHECKOUT_METHODS", "Channel", "ChannelNotification",
    "ChannelResult", "ClientInfo", "Decline", "HostedCheckout", "HostedCheckoutProvider", "MerchantView",
    "MisdirectionKind", "NOT_CREATED", "NotificationMisdirected", "NotificationReceiver", "NotificationRejected",
    "Offer", "Outcome", "PaymentState", "PaymentView", "RefundState", "Platform", "QrCode", "REFUND_NOT_FOUND", "Redirect", "RefundView",
    "Refunder", "RouteRequest", "Scenario", "StatusQuerier", "Version", "format_minor", "hookimpl", "hookspec",
    "parse_version",
    # Payout rails (payouts.py)
    "PayoutRail", "Refusal", "RefusalReason", "TRANSFER_NOT_FOUND", "TransferAnswer", "TransferOutcome",
    "TransferPurpose", "TransferRequest",
    # Statement sources (statements.py)
    "LineKind", "StatementKind", "StatementLine", "StatementNotReady", "StatementSource",
]
