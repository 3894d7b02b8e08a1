"""Alipay notifications in the gateway's terms, shared by every channel that pays through Alipay.

This module joins the rail to the plugin contract (channels.protocol); the rail modules themselves stay
free of it.
"""

from __future__ import annotations

from channels.alipay.errors import NotificationAppMismatchError, NotificationError
from channels.alipay.notify import ACK, TradeStatus, parse_trade_notification
from channels.alipay.signing import AlipayCredentials
from channels.protocol import ChannelNotification, NotificationMisdirected, NotificationRejected, Outcome

_OUTCOMES = {
    TradeStatus.TRADE_SUCCESS: Outcome.SUCCEEDED,
    TradeStatus.TRADE_FINISHED: Outcome.SUCCEEDED,
    TradeStatus.WAIT_BUYER_PAY: Outcome.PENDING,
    # Closed unpaid, or fully refunded: the notification alone cannot tell; a query can.
    TradeStatus.TRADE_CLOSED: Outcome.UNKNOWN,
}


class AlipayNotifications:
    """Mixin for Alipay channels: `self.credentials` verifies what Alipay posts to the gateway."""

    credentials: AlipayCredentials
    notification_ack = ACK

    def parse_notification(self, body: bytes, content_type: str) -> ChannelNotification:
        try:
            note = parse_trade_notification(body, content_type, self.credentials)
        except NotificationAppMismatchError as exc:
            raise NotificationMisdirected(str(exc)) from exc
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
