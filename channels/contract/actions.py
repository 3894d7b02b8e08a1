"""What a channel hands the buyer's client: a closed set of kinds.

Channels produce these, so the contract owns them; the gateway's domain stores and serves the same classes
(gateway/domain/actions.py adds their storage form), so there is one definition on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AppPay:
    """An order string for the Alipay mobile SDK inside the platform's app."""

    order_string: str
    kind = "app_pay"


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    form_html: str = ""
    kind = "redirect"


@dataclass(frozen=True, slots=True)
class QrCode:
    code: str
    svg: str = ""
    png: bytes = b""
    kind = "qr_code"


@dataclass(frozen=True, slots=True)
class HostedCheckout:
    url: str
    expires_at: datetime | None = None
    kind = "hosted_checkout"


BuyerAction = AppPay | Redirect | QrCode | HostedCheckout
ACTION_KINDS = ("app_pay", "redirect", "qr_code", "hosted_checkout")
