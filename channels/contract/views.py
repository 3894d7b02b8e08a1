"""The narrow, frozen views of the gateway's aggregates that channels and plugins are handed.

Only the fields channels read are here, so the gateway can reshape its own `Payment` or `Merchant` without
breaking a channel; the gateway builds these in one place (gateway/service/channel_views.py). Adding a field
is compatible; removing or renaming one is a breaking change of the plugin contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from channels.contract.client import ClientInfo, Scenario
from channels.contract.states import PaymentState, RefundState


@dataclass(frozen=True, slots=True)
class MerchantView:
    """The merchant a payment is for: what routing rules and buyer-facing messages need."""

    id: str
    display_name: str
    business_category: str = ""


@dataclass(frozen=True, slots=True)
class PaymentView:
    id: str  # the gateway's payment id: channels send it to the rail as its out_trade_no
    merchant_id: str
    out_trade_no: str  # the trading app's own order number (for messages, never for the rail)
    amount: int  # minor units (fen)
    currency: str
    subject: str
    client: ClientInfo
    scenario: Scenario
    channel: str
    state: PaymentState  # as it stands when the view is made (a lifecycle hook's payment may have moved on)
    expires_at: datetime
    return_url: str = ""
    scan_to_pay: bool = False
    checkout_token: str = ""  # the secret part of the hosted checkout page's URL
    buyer_id: str = ""  # the rail's id of the buyer who paid, once a notification said


@dataclass(frozen=True, slots=True)
class RefundView:
    id: str  # unique and stable: the rail's refund request number
    payment_id: str
    amount: int  # minor units (fen)
    currency: str
    state: RefundState
    reason: str = ""
