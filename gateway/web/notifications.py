"""`POST /notify/{channel}/{merchant}`: channels' asynchronous notifications.

The channel verifies (signature, app); the service checks the payment, channel and amount and moves the
payment exactly once; the acknowledgement the channel expects is sent only after that commit. Anything
refused gets a non-acknowledgement, so the channel sends it again later.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from channels.contract.protocol import NotificationMisdirected, NotificationReceiver, NotificationRejected
from gateway.domain.errors import FailedPrecondition, NotFound
from gateway.domain.validation import MERCHANT_ID
from gateway.metrics import Metrics
from gateway.service.channel_views import flag_kind
from gateway.service.services import Services
from gateway.web.bodies import MAX_BODY, read_body

log = logging.getLogger("cashier.notify")


def notification_endpoint(services: Services, metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    def handle(channel: NotificationReceiver, name: str, merchant_id: str, body: bytes, content_type: str) -> str:
        note = channel.parse_notification(body, content_type)
        payment = services.payments.confirm_from_channel(name, merchant_id, note)
        log.info("notification applied", extra={"channel": name, "payment": payment.id,
                                                 "state": payment.state.value, "event": note.event_id})
        return channel.notification_ack

    async def notify(request: Request) -> Response:
        name, merchant_id = request.path_params["channel"], request.path_params["merchant"]
        # A runtime-checkable Protocol, for isinstance; mypy wants a concrete class (python/mypy#4717).
        channel = services.capable(name, NotificationReceiver)  # type: ignore[type-abstract]
        if channel is None:
            return PlainTextResponse("unknown channel", status_code=404)
        # The URL is the gateway's own (handed to the rail per merchant): a segment that is no merchant id
        # was never handed out, and nothing of it may reach the database or the log.
        if not MERCHANT_ID.fullmatch(merchant_id):
            metrics.notifications.labels(name, "unknown_merchant").inc()
            return PlainTextResponse("unknown merchant", status_code=404)
        body = await read_body(request, MAX_BODY)
        result, status, answer = "applied", 200, ""
        try:
            answer = await run_in_threadpool(handle, channel, name, merchant_id, body,
                                             request.headers.get("content-type", ""))
        except NotificationMisdirected as exc:
            # Genuine but for another account of the rail: money may have moved somewhere; flag it.
            result, status, detail = "misdirected", 400, str(exc)
            await run_in_threadpool(services.flags.raise_flag, flag_kind(exc.kind), merchant_id=merchant_id,
                                    payment_id=exc.payment_id, channel=name, detail=detail)
        except NotificationRejected as exc:
            result, status = "rejected", 400
            log.warning("notification refused: %s", exc, extra={"channel": name, "merchant": merchant_id})
        except NotFound as exc:
            result, status = "unknown_payment", 404
            log.warning("notification for an unknown payment: %s", exc.message, extra={"channel": name})
        except FailedPrecondition as exc:
            # Genuine, but it disagrees with what we stored: the service has flagged it for an operator.
            result, status = exc.reason.lower(), 409
            log.warning("notification refused: %s", exc.message, extra={"channel": name, "merchant": merchant_id})
        metrics.notifications.labels(name, result).inc()
        return PlainTextResponse(answer if status == 200 else "fail", status_code=status)

    return notify
