"""The PC channel: a desktop browser pays on Alipay's own checkout, or scans a QR code with a phone.

* Redirect (default): `alipay.trade.page.pay`, signed here with no call to Alipay. The buyer's browser
  follows `url` (GET) or the page serves `form_html`, which POSTs itself to Alipay.
* Scan to pay (`scan_to_pay` on the request): `alipay.trade.precreate` asks Alipay for a QR code, which
  is drawn as an inline SVG and a PNG. Anything but a definite SUCCESS raises, so the core answers
  UNAVAILABLE and stores nothing: a QR code we did not get from Alipay is never handed out (the Alipay
  toolkit's `precreate_qr_code`, shared with the shared-link channel).

Either way Alipay is told to notify `{gateway_url}/notify/pc/{merchant}`, where this channel verifies
the notification (AlipayNotifications) before the core moves the payment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from channels.alipay.toolkit import (
    AlipayNotifications,
    AlipayRefunds,
    AlipaySettings,
    AlipayStatus,
    notify_url,
    precreate_qr_code,
)
from channels.contract import Decline, Offer, PaymentView, Platform, QrCode, Redirect, RouteRequest, Scenario

DEFAULT_PRIORITY = 60
DEFAULT_QR_SIZE = 8  # pixels per module: a typical 33-module code plus its quiet zone is 328 px
_KNOWN = ("priority", "qr_size")


@dataclass(frozen=True)
class PcSettings:
    """The optional `[channels.pc]` table."""

    priority: int = DEFAULT_PRIORITY
    qr_size: int = DEFAULT_QR_SIZE

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> PcSettings:
        unknown = sorted(set(table) - set(_KNOWN))
        if unknown:
            raise ValueError(f"[channels.pc] has unknown keys: {', '.join(unknown)} "
                             f"(known: {', '.join(_KNOWN)})")
        priority = table.get("priority", DEFAULT_PRIORITY)
        if not _is_int(priority):
            raise ValueError(f"[channels.pc] priority must be an integer, not {priority!r}")
        qr_size = table.get("qr_size", DEFAULT_QR_SIZE)
        if not _is_int(qr_size) or not 1 <= qr_size <= 40:
            raise ValueError(f"[channels.pc] qr_size must be an integer from 1 to 40 (pixels per module), "
                             f"not {qr_size!r}")
        return cls(priority, qr_size)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class PcChannel(AlipayNotifications, AlipayStatus, AlipayRefunds):
    name = "pc"
    display_name = "Alipay on a PC: checkout page or QR code"
    actions = ("redirect", "qr_code")
    platforms = (Platform.PC_BROWSER,)
    scenarios = tuple(Scenario)

    def __init__(self, alipay: AlipaySettings, settings: PcSettings, gateway_url: str):
        self.credentials = alipay.credentials
        self.seller_id = alipay.seller_id
        self.alipay = alipay.client()
        self.settings = settings
        self.gateway_url = gateway_url

    def close(self) -> None:
        """Release the rail's connection pool (precreate is an HTTP call; page pay is not)."""
        self.alipay.close()

    def offer(self, request: RouteRequest) -> Offer | Decline:
        if request.client.platform is not Platform.PC_BROWSER:
            return Decline(f"not a PC browser ({request.client.platform.value})")
        if request.scan_to_pay:
            return Offer(self.settings.priority, "PC browser: a QR code to scan with Alipay on another device")
        return Offer(self.settings.priority, "PC browser: redirect to Alipay's checkout page")

    def prepare(self, payment: PaymentView) -> Redirect | QrCode:
        # Our payment id is the Alipay out_trade_no: merchants' own numbers are unique only per merchant,
        # while the platform's Alipay account needs one number space.
        if payment.scan_to_pay:
            return self._qr_code(payment)
        page = self.alipay.page_pay(
            out_trade_no=payment.id,
            total_amount_fen=payment.amount,
            subject=payment.subject,
            time_expire=payment.expires_at.astimezone(UTC),
            return_url=payment.return_url or None,
            notify_url=self._notify_url(payment),
        )
        return Redirect(page.url, page.form_html)

    def _notify_url(self, payment: PaymentView) -> str:
        return notify_url(self.gateway_url, self.name, payment.merchant_id)

    def _qr_code(self, payment: PaymentView) -> QrCode:
        return precreate_qr_code(self.alipay, payment, notify_url=self._notify_url(payment),
                                 qr_size=self.settings.qr_size)
