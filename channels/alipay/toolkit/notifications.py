"""Alipay notifications in the gateway's terms, shared by every channel that pays through Alipay.

This module joins the rail to the plugin contract (channels.contract); the rail modules themselves stay
free of it.
"""

from __future__ import annotations

import re

from channels.alipay.rail.errors import NotificationAppMismatchError, NotificationError, SellerMismatchError
from channels.alipay.rail.notifications import ACK, TradeStatus, check_seller, parse_trade_notification
from channels.alipay.rail.signing import AlipayCredentials
from channels.contract import (
    ChannelNotification,
    MisdirectionKind,
    NotificationMisdirected,
    NotificationRejected,
    Outcome,
)

_OUTCOMES = {
    TradeStatus.TRADE_SUCCESS: Outcome.SUCCEEDED,
    TradeStatus.TRADE_FINISHED: Outcome.SUCCEEDED,
    TradeStatus.WAIT_BUYER_PAY: Outcome.PENDING,
    # Closed unpaid, or fully refunded: the notification alone cannot tell; a query can.
    TradeStatus.TRADE_CLOSED: Outcome.UNKNOWN,
}
# The gateway's payment ids (pay_ + a ULID), which its Alipay channels send as out_trade_no. Another
# platform's trade number names no payment of ours, and is not stored with a flag.
_PAYMENT_ID = re.compile(r"pay_[0-9A-Z]{26}")


class AlipayNotifications:
    """Mixin for Alipay channels: `self.credentials` verifies what Alipay posts to the gateway, and
    `self.seller_id` (`[channels.alipay] seller_id`), when set, is the payee every notification must name."""

    credentials: AlipayCredentials
    seller_id: str | None = None
    notification_ack = ACK

    def parse_notification(self, body: bytes, content_type: str) -> ChannelNotification:
        try:
            note = parse_trade_notification(body, content_type, self.credentials)
            if self.seller_id is not None:
                check_seller(note, self.seller_id)
        except NotificationAppMismatchError as exc:
            raise NotificationMisdirected(str(exc)) from exc
        except SellerMismatchError as exc:
            # Genuine and for our app, but the money went to another Alipay account: never applied.
            ours = note.out_trade_no if _PAYMENT_ID.fullmatch(note.out_trade_no) else ""
            raise NotificationMisdirected(str(exc), kind=MisdirectionKind.SELLER_MISMATCH, payment_id=ours) from exc
        except NotificationError as exc:
            raise NotificationRejected(str(exc)) from exc
        return ChannelNotification(
            payment_id=note.out_trade_no,
            outcome=_OUTCOMES[note.trade_status],
            amount=note.total_amount_fen,
            reference=note.trade_no,
            event_id=note.notify_id,
            buyer_id=note.buyer_id or "",
        )


def notify_url(gateway_url: str, channel: str, merchant_id: str) -> str:
    return f"{gateway_url}/notify/{channel}/{merchant_id}"
