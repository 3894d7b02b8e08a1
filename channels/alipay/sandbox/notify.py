"""Asynchronous notifications: POST to notify_url, retried on Alipay's schedule until the answer is ``success``.

One background thread owns the queue. Every attempt is recorded and visible at ``GET /sandbox/notifications``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from .faults import Faults
from .store import TRADE_CLOSED, Refund, Trade
from .values import beijing_now, codec_of, fen_to_yuan, fmt_time, mask_logon_id

log = logging.getLogger(__name__)

# Gaps after the first, second, ... failed attempt: 4m, 10m, 10m, 1h, 2h, 6h, 15h (8 attempts in ~24h24m).
RETRY_GAPS = (240, 600, 600, 3600, 7200, 21600, 54000)
SUCCESS_BODY = b"success"
USER_AGENT = "Mozilla/4.0"


def headers_for(charset: str) -> dict[str, str]:
    """What Alipay has been observed to send (the malformed Content-Type included), in the body's charset."""
    return {"Content-Type": f"application/x-www-form-urlencoded; text/html; charset={charset}",
            "User-Agent": USER_AGENT}


@dataclass
class Attempt:
    number: int
    at: str
    outcome: str  # success | failed | error | dropped
    http_status: int | None = None
    body: str = ""
    error: str = ""
    duplicate: bool = False


@dataclass
class Notification:
    notify_id: str
    url: str
    fields: dict[str, str]  # everything except notify_time and sign, which change per attempt
    attempts: list[Attempt] = field(default_factory=list)
    failures: int = 0
    state: str = "pending"  # pending | delivered | given_up
    next_attempt_at: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "notify_id": self.notify_id,
            "url": self.url,
            "app_id": self.fields.get("app_id", ""),
            "trade_no": self.fields.get("trade_no", ""),
            "out_trade_no": self.fields.get("out_trade_no", ""),
            "trade_status": self.fields.get("trade_status", ""),
            "out_biz_no": self.fields.get("out_biz_no", ""),
            "state": self.state,
            "delivered": self.state == "delivered",
            "next_attempt_at": self.next_attempt_at,
            "fields": dict(self.fields),
            "attempts": [a.__dict__.copy() for a in self.attempts],
        }


def trade_notification(trade: Trade, refund: Refund | None = None) -> dict[str, str]:
    """The fields of a trade_status_sync notification (without notify_id, notify_time and sign, which the
    notifier adds per attempt); after a refund, with its refund_fee, out_biz_no and gmt_refund."""
    amount = fen_to_yuan(trade.amount_fen)
    fields = {
        "notify_type": "trade_status_sync",
        "app_id": trade.app_id,
        "auth_app_id": trade.app_id,
        "charset": trade.charset,  # Alipay notifies in the charset the trade was created with
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "trade_status": trade.status,
        "total_amount": amount,
        "receipt_amount": amount,
        "invoice_amount": amount,
        "buyer_pay_amount": amount,
        "point_amount": "0.00",
        "buyer_id": trade.buyer_id,
        "buyer_logon_id": mask_logon_id(trade.buyer_logon_id),
        "seller_id": trade.seller_id,
        "subject": trade.subject,
        "body": trade.body,
        "passback_params": trade.passback_params,
        "gmt_create": fmt_time(trade.gmt_create),
        "gmt_payment": fmt_time(trade.gmt_payment),
        "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}],
                                     separators=(",", ":")),
    }
    if refund is not None:
        fields["out_biz_no"] = refund.out_request_no
        fields["refund_fee"] = fen_to_yuan(trade.refunded_fen)
        fields["gmt_refund"] = fmt_time(refund.gmt_refund)
        if trade.status == TRADE_CLOSED:
            fields["gmt_close"] = fmt_time(trade.gmt_close)
    return {k: v for k, v in fields.items() if v}


def new_notify_id() -> str:
    return uuid.uuid4().hex + "ne"


class Notifier:
    """Sends notifications from one thread. ``sign(fields) -> str`` signs a complete field set."""

    def __init__(
        self,
        sign: Callable[[dict[str, str]], str],
        faults: Faults,
        *,
        time_scale: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self._sign = sign
        self._faults = faults
        self._time_scale = time_scale
        self._timeout = timeout
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Notification]] = []
        self._seq = itertools.count()
        self._all: list[Notification] = []
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="alipay-sandbox-notifier", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._timeout + 5)

    # -- API -------------------------------------------------------------
    def submit(self, url: str, fields: dict[str, str], notify_id: str | None = None) -> Notification:
        notify_id = notify_id or new_notify_id()
        note = Notification(notify_id=notify_id, url=url, fields={**fields, "notify_id": notify_id})
        delay = self._faults.snapshot()["delay_notifications"]
        self._schedule(note, delay)
        with self._cond:
            self._all.append(note)
        return note

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return [n.public() for n in self._all]

    def clear(self) -> None:
        with self._cond:
            self._all.clear()
            self._queue.clear()

    # -- internals -------------------------------------------------------
    def _schedule(self, note: Notification, delay: float) -> None:
        with self._cond:
            note.next_attempt_at = fmt_time(beijing_now() + timedelta(seconds=delay))
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), note))
            self._cond.notify_all()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
            while True:
                with self._cond:
                    while not self._stopping:
                        if self._queue and self._queue[0][0] <= time.monotonic():
                            break
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._cond.wait(wait)
                    if self._stopping:
                        return
                    _, _, note = heapq.heappop(self._queue)
                try:
                    self._attempt(client, note)
                except Exception:  # never let one bad URL kill the sender
                    log.exception("notification %s failed unexpectedly", note.notify_id)

    def _attempt(self, client: httpx.Client, note: Notification) -> None:
        number = len([a for a in note.attempts if not a.duplicate]) + 1
        if self._faults.take("drop_notifications"):
            self._record(note, Attempt(number, fmt_time(beijing_now()), "dropped"))
            self._after_failure(note)
            return
        sends = 2 if self._faults.take("duplicate_notifications") else 1
        delivered = False
        # The body is form-encoded in the trade's charset (GBK for a trade created with charset=GBK).
        charset = note.fields.get("charset") or "utf-8"
        codec, headers = codec_of(charset), headers_for(charset)
        for copy in range(sends):
            form = dict(note.fields)
            form["notify_time"] = fmt_time(beijing_now())
            form["sign"] = self._sign(form)
            attempt = Attempt(number, form["notify_time"], "failed", duplicate=copy > 0)
            try:
                body = urlencode(form, encoding=codec, errors="replace").encode("ascii")
                response = client.post(note.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                attempt.outcome = "error"
                attempt.error = f"{type(exc).__name__}: {exc}"
            else:
                attempt.http_status = response.status_code
                attempt.body = response.text[:200]
                if response.status_code == 200 and response.content == SUCCESS_BODY:
                    attempt.outcome = "success"
                    delivered = True
            self._record(note, attempt)
        if delivered:
            with self._cond:
                note.state = "delivered"
                note.next_attempt_at = ""
        else:
            self._after_failure(note)

    def _record(self, note: Notification, attempt: Attempt) -> None:
        with self._cond:
            note.attempts.append(attempt)

    def _after_failure(self, note: Notification) -> None:
        with self._cond:
            note.failures += 1
            if note.failures > len(RETRY_GAPS):
                note.state = "given_up"
                note.next_attempt_at = ""
                return
        self._schedule(note, RETRY_GAPS[note.failures - 1] * self._time_scale)
