"""Bills: alipay.data.dataservice.bill.downloadurl.query, and the short-lived links it hands out.

``bill_type=trade`` (the trades made through the API) is built by :mod:`.bill_file`, ``signcustomer`` (every
movement of the merchant's balance) by :mod:`.account_bill_file`, both from what :mod:`.bill_book` says the
merchant's trades and transfers were, planted differences included. A period with nothing in it answers
``isp.bill_not_exist``, as for a period not over yet when ``strict_bill_date`` is set (Alipay: T+1).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .account_bill_file import build_account_zip, has_movements, movements
from .bill_book import billed_trades, successful_transfers
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
    if not available:
        raise BusinessError("isp.bill_not_exist", "账单不存在")
    seller_id = call.app.seller_id
    with sandbox.store.lock:
        app_ids = {a.app_id for a in sandbox.store.apps.values() if a.seller_id == seller_id}
        trades = billed_trades([t for t in sandbox.store.trades.values() if t.seller_id == seller_id], app_ids,
                               seller_id, sandbox.faults.bill_differences, sandbox.config.service_fee_bps)
        if bill_type == "trade":
            rows = bill_rows(trades, start, end)
            built = build_zip(seller_id, label, rows, start, end, call.now) if rows else None
        else:
            moved = movements(trades, successful_transfers(sandbox.store.transfers.values(), app_ids))
            built = (build_account_zip(seller_id, label, moved, start, end, call.now)
                     if has_movements(moved, start, end) else None)
    if built is None:
        raise BusinessError("isp.bill_not_exist", "账单不存在")
    filename, data = built
    token = sandbox.bill_links.add(filename, data, sandbox.config.bill_url_ttl)
    query = urlencode({
        "bizType": bill_type,
        "userId": f"{call.app.seller_id}0156",
        "fileType": "csv.zip",
        "bizDates": label,
        "downloadFileName": filename,
        "fileId": token[:12],
        "token": token,
    })
    base = (sandbox.config.public_url or call.base_url).rstrip("/")
    return {"bill_download_url": f"{base}/downloadBillFile.resource?{query}"}
