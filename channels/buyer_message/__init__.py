"""Built-in lifecycle plugin: after a successful payment, the merchant's account sends the buyer a message
through the platform's fan-service inbox (an HTTP endpoint), e.g. "thanks, reply here with questions".

Registered through the `cashier.plugins` entry point `buyer_message`, exactly like a third-party plugin;
it adds no channel and implements one lifecycle hook, `cashier_payment_succeeded`. It does nothing
until configured:

    [plugins.buyer_message]
    url = "https://inbox.example.com/v1/messages"  # the fan-service inbox's send endpoint
    token_env = "CASHIER_INBOX_TOKEN"              # optional: a bearer token, read from this variable
    timeout_seconds = 5
    text = "您已在「{merchant}」成功支付 {amount}（{subject}）。如有问题，请直接回复本消息。"

The gateway calls the hook from its outbox after the payment committed, never on the payment's path; a
failed send raises, so the gateway calls it again later with back-off. Each message carries the event
id as `Idempotency-Key`, so the inbox can drop a repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from channels.buyer_message.sender import BuyerMessageSettings, send_thanks
from channels.contract import MerchantView, PaymentView, hookimpl

log = logging.getLogger(__name__)


@hookimpl
def cashier_startup(config: Mapping[str, Mapping[str, Any]]) -> None:
    if "buyer_message" in config:
        BuyerMessageSettings.from_table(config["buyer_message"])  # raises, naming the key, when it is wrong


@hookimpl
def cashier_payment_succeeded(payment: PaymentView, merchant: MerchantView, event_id: str,
                              config: Mapping[str, Mapping[str, Any]]) -> None:
    table = config.get("buyer_message")
    if not table:
        return
    if not payment.buyer_id:
        # Nothing to address: the rail did not say who paid. Not a failure; a retry would not help.
        log.info("no buyer message: the channel gave no buyer id", extra={"payment": payment.id})
        return
    send_thanks(BuyerMessageSettings.from_table(table), payment, merchant, event_id)
