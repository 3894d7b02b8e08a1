"""Bills: alipay.data.dataservice.bill.downloadurl.query, and the short-lived links it hands out.

The archive itself (Alipay's layout) is built by :mod:`.bill_file`.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .bill_file import bill_rows, build_zip
from .calls import BusinessError, Call, text
from .values import parse_time

if TYPE_CHECKING:
    from .core import Sandbox


class BillLinks:
    """Built bill archives by download token, each until its link expires (Alipay's live about 30 s)."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[str, bytes, float]] = {}
        self._lock = threading.Lock()

    def add(self, filename: str, data: bytes, ttl: float) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._files[token] = (filename, data, time.monotonic() + ttl)
        return token

    def get(self, token: str) -> tuple[str, bytes] | None:
        with self._lock:
            now = time.monotonic()
            for stale in [t for t, (_, _, until) in self._files.items() if until < now]:
                del self._files[stale]
            found = self._files.get(token)
        return (found[0], found[1]) if found else None

    def clear(self) -> None:
        with self._lock:
            self._files.clear()


def bill_url(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    bill_type = text(call, "bill_type", required=True, max_len=32)
    bill_date = text(call, "bill_date", required=True, max_len=10)
    if bill_type not in ("trade", "signcustomer"):
        raise BusinessError("isv.invalid-arguments", f"bill_type无效：{bill_type}")
    try:
        if len(bill_date) == 10:
            start = parse_time(bill_date + " 00:00:00")
            end, label = start + timedelta(days=1), start.strftime("%Y%m%d")
        else:
            start = parse_time(bill_date + "-01 00:00:00")
            end = (start + timedelta(days=32)).replace(day=1)
            label = start.strftime("%Y%m")
    except ValueError:
        raise BusinessError("isv.invalid-arguments", f"bill_date格式无效：{bill_date}") from None
    today = call.now.replace(hour=0, minute=0, second=0)
    # T+1 when strict: the whole period must be over before today; otherwise it need only have begun.
    available = end <= today if sandbox.config.strict_bill_date else start <= call.now
    if bill_type != "trade" or not available:
        raise BusinessError("isp.bill_not_exist", "账单不存在")
    with sandbox.store.lock:
        trades = [t for t in sandbox.store.trades.values() if t.seller_id == call.app.seller_id]
        rows = bill_rows(trades, start, end)
    if not rows:
        raise BusinessError("isp.bill_not_exist", "账单不存在")
    filename, data = build_zip(call.app.seller_id, label, rows, start, end, call.now)
    token = sandbox.bill_links.add(filename, data, sandbox.config.bill_url_ttl)
    query = urlencode({
        "bizType": "trade",
        "userId": f"{call.app.seller_id}0156",
        "fileType": "csv.zip",
        "bizDates": label,
        "downloadFileName": filename,
        "fileId": token[:12],
        "token": token,
    })
    base = (sandbox.config.public_url or call.base_url).rstrip("/")
    return {"bill_download_url": f"{base}/downloadBillFile.resource?{query}"}
