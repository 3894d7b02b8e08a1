"""The fan-service inbox message: its settings, its body, and the HTTP call that sends it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from channels.contract import MerchantView, PaymentView, format_minor

DEFAULT_TEXT = "您已在「{merchant}」成功支付 {amount}（{subject}）。如有问题，请直接回复本消息。"


class BuyerMessageNotSent(RuntimeError):
    """The inbox did not take the message; raised so that the gateway calls the hook again later."""


@dataclass(frozen=True, slots=True)
class BuyerMessageSettings:
    url: str
    token: str = ""
    timeout_seconds: float = 5.0
    text: str = DEFAULT_TEXT

    @classmethod
    def from_table(cls, table: Mapping[str, Any], env: Mapping[str, str] | None = None) -> BuyerMessageSettings:
        url = str(table.get("url", ""))
        if not url.startswith(("https://", "http://")):
            raise ValueError("[plugins.buyer_message] url: an http:// or https:// URL of the inbox's send endpoint")
        token_env = str(table.get("token_env", ""))
        token = (env if env is not None else os.environ).get(token_env, "") if token_env else ""
        return cls(url=url, token=token, timeout_seconds=float(table.get("timeout_seconds", 5.0)),
                   text=str(table.get("text", DEFAULT_TEXT)))


def message_body(settings: BuyerMessageSettings, payment: PaymentView, merchant: MerchantView, event_id: str) -> dict[str, Any]:
    text = settings.text.format(merchant=merchant.display_name, amount=format_minor(payment.amount, payment.currency),
                                subject=payment.subject)
    return {
        "message_id": event_id,
        "from": {"merchant_id": merchant.id, "merchant_name": merchant.display_name},
        "to": {"buyer_id": payment.buyer_id, "channel": payment.channel},
        "kind": "payment_succeeded",
        "text": text,
        "payment": {"payment_id": payment.id, "out_trade_no": payment.out_trade_no, "amount": payment.amount,
                    "currency": payment.currency, "subject": payment.subject},
    }


def send_thanks(settings: BuyerMessageSettings, payment: PaymentView, merchant: MerchantView, event_id: str) -> None:
    headers = {"Idempotency-Key": event_id, "User-Agent": "unified-cashier-buyer-message/1"}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    try:
        answer = httpx.post(settings.url, json=message_body(settings, payment, merchant, event_id), headers=headers,
                            timeout=settings.timeout_seconds, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise BuyerMessageNotSent(f"inbox unreachable: {type(exc).__name__}") from exc
    if not 200 <= answer.status_code < 300:
        raise BuyerMessageNotSent(f"inbox answered HTTP {answer.status_code}")
