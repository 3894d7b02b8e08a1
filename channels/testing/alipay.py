"""The kit's rail for Alipay-based channels: a local Alipay sandbox, and notifications signed by its key.

When the author's configuration has no ``[channels.alipay]`` table, the kit starts the sandbox
(channels.alipay.sandbox.local, what ``cashier demo`` uses) and adds the table pointing at it, so that a
channel built on the Alipay toolkit signs real requests and gets real answers. Notifications are then
signed with the sandbox's own key, as Alipay would sign them; nothing here verifies anything (the channel
under test does).
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from channels.alipay.sandbox.local import LocalAlipay, start_local_alipay
from channels.contract import PaymentView
from channels.testing.rail import NotificationSample

FORM = "application/x-www-form-urlencoded; charset=utf-8"
# Beijing time, as Alipay writes its timestamps.
_BEIJING = timezone(timedelta(hours=8))


def start(key_dir: Path) -> LocalAlipay:
    return start_local_alipay(key_dir)


class SandboxRail:
    """`channels.testing.rail.Rail` for channels that verify notifications with the sandbox's key."""

    def __init__(self, local: LocalAlipay, seller_id: str | None):
        self.local = local
        self.configured_seller = seller_id
        self.seller_id = seller_id or "2088" + "".join(secrets.choice("0123456789") for _ in range(12))

    def _fields(self, payment: PaymentView, **changes: str) -> dict[str, str]:
        amount = f"{payment.amount // 100}.{payment.amount % 100:02d}"
        now = datetime.now(_BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        fields = {
            "notify_type": "trade_status_sync", "notify_id": secrets.token_hex(16), "notify_time": now,
            "app_id": self.local.app_id, "auth_app_id": self.local.app_id, "charset": "utf-8",
            "version": "1.0", "sign_type": "RSA2", "trade_no": "2026" + secrets.token_hex(12),
            "out_trade_no": payment.id, "trade_status": "TRADE_SUCCESS", "total_amount": amount,
            "receipt_amount": amount, "buyer_pay_amount": amount, "buyer_id": "2088000000000001",
            "seller_id": self.seller_id, "subject": payment.subject, "gmt_create": now, "gmt_payment": now,
        }
        fields.update(changes)
        return fields

    def _encode(self, fields: Mapping[str, str]) -> NotificationSample:
        return NotificationSample(urllib.parse.urlencode(fields).encode(), FORM)

    def _signed(self, fields: dict[str, str], *, wrong_key: bool = False) -> dict[str, str]:
        return {**fields, "sign": self.local.handle.sandbox.keys.sign_v1(fields, wrong_key=wrong_key)}

    def genuine_notification(self, payment: PaymentView) -> NotificationSample:
        return self._encode(self._signed(self._fields(payment)))

    def tampered_notifications(self, payment: PaymentView) -> dict[str, NotificationSample]:
        genuine = self._signed(self._fields(payment))
        other_app = "2021" + "".join(secrets.choice("0123456789") for _ in range(12))
        variants: dict[str, Any] = {
            "amount raised after signing": {**genuine, "total_amount": f"{payment.amount // 100 + 1}.00"},
            "another payment's number put in after signing": {**genuine, "out_trade_no": "pay_" + "Z" * 26},
            "status changed after signing": {**self._signed(self._fields(payment, trade_status="WAIT_BUYER_PAY")),
                                             "trade_status": "TRADE_SUCCESS"},
            "signed by another key": self._signed(self._fields(payment), wrong_key=True),
            "unsigned": self._fields(payment),
            "genuine, for another Alipay app": self._signed(self._fields(payment, app_id=other_app,
                                                                         auth_app_id=other_app)),
        }
        if self.configured_seller:
            variants["genuine, paid to another seller than seller_id"] = self._signed(
                self._fields(payment, seller_id="2088999999999999"))
        return {label: self._encode(fields) for label, fields in variants.items()}
