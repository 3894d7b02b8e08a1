"""The sandbox's own records: apps, trades with their refunds, transfers, Alipay accounts (logon id -> holder
name) and the certificate authority of certificate mode. In memory, behind one lock.

With a state file, every change is written through as JSON (temp file + rename, owner-only: it holds the
sandbox CA's keys), and read back at start.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from .values import fen_to_yuan, fmt_time, parse_time

WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
TRADE_SUCCESS = "TRADE_SUCCESS"
TRADE_CLOSED = "TRADE_CLOSED"
TRADE_FINISHED = "TRADE_FINISHED"


def seller_id_for(app_id: str) -> str:
    """Each registered app is its own merchant: a stable 16-digit ``2088…`` PID derived from the app_id."""
    digest = int.from_bytes(hashlib.sha256(app_id.encode()).digest()[:8], "big")
    return f"2088{digest % 10**12:012d}"


@dataclass
class App:
    app_id: str
    public_key: str  # PEM or bare Base64, as registered
    seller_id: str


@dataclass
class Refund:
    out_request_no: str
    amount_fen: int
    reason: str
    gmt_refund: datetime


@dataclass
class Trade:
    trade_no: str
    out_trade_no: str
    app_id: str
    seller_id: str
    method: str
    product_code: str
    amount_fen: int
    subject: str
    status: str
    gmt_create: datetime
    body: str = ""
    notify_url: str = ""
    return_url: str = ""
    quit_url: str = ""
    passback_params: str = ""
    expire_at: datetime | None = None
    gmt_payment: datetime | None = None
    gmt_close: datetime | None = None
    buyer_id: str = ""
    buyer_logon_id: str = ""
    scanned: bool = True
    charset: str = "utf-8"  # the request's ``charset`` as sent (e.g. "GBK"): notifications use it too
    refunds: list[Refund] = field(default_factory=list)
    # Huabei instalments as the order asked for them (extend_params.hb_fq_num / hb_fq_seller_percent), or {}.
    instalments: dict[str, str] = field(default_factory=dict)

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds)

    def find_refund(self, out_request_no: str) -> Refund | None:
        return next((r for r in self.refunds if r.out_request_no == out_request_no), None)

    def public(self) -> dict[str, Any]:
        """The inspection view served at ``GET /sandbox/trades``."""
        return {
            "trade_no": self.trade_no,
            "out_trade_no": self.out_trade_no,
            "app_id": self.app_id,
            "seller_id": self.seller_id,
            "method": self.method,
            "product_code": self.product_code,
            "status": self.status,
            "total_amount": fen_to_yuan(self.amount_fen),
            "amount_fen": self.amount_fen,
            "refund_fee": fen_to_yuan(self.refunded_fen),
            "subject": self.subject,
            "body": self.body,
            "notify_url": self.notify_url,
            "return_url": self.return_url,
            "buyer_id": self.buyer_id,
            "buyer_logon_id": self.buyer_logon_id,
            "scanned": self.scanned,
            "gmt_create": fmt_time(self.gmt_create),
            "gmt_payment": fmt_time(self.gmt_payment),
            "gmt_close": fmt_time(self.gmt_close),
            "expire_at": fmt_time(self.expire_at),
            "instalments": dict(self.instalments),
            "refunds": [
                {
                    "out_request_no": r.out_request_no,
                    "refund_amount": fen_to_yuan(r.amount_fen),
                    "refund_reason": r.reason,
                    "gmt_refund": fmt_time(r.gmt_refund),
                }
                for r in self.refunds
            ],
        }


@dataclass
class Transfer:
    out_biz_no: str
    app_id: str
    order_id: str
    pay_fund_order_id: str
    amount_fen: int
    payee_identity: str
    payee_identity_type: str
    payee_name: str
    order_title: str
    remark: str
    status: str  # SUCCESS | FAIL
    trans_date: datetime
    fail_code: str = ""
    fail_reason: str = ""

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["trans_amount"] = fen_to_yuan(self.amount_fen)
        data["trans_date"] = fmt_time(self.trans_date)
        return data


# ---------------------------------------------------------------- JSON round trip

def _dump(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return fmt_time(obj)
    if isinstance(obj, list):
        return [_dump(x) for x in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _dump(getattr(obj, f.name)) for f in fields(obj)}
    return obj


def _load(cls: type, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in {"gmt_create", "gmt_payment", "gmt_close", "expire_at", "gmt_refund", "trans_date"}:
            value = parse_time(value) if value else None
        elif f.name == "refunds":
            value = [_load(Refund, r) for r in value]
        kwargs[f.name] = value
    return cls(**kwargs)


class Store:
    def __init__(self, state_file: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = state_file
        self.apps: dict[str, App] = {}
        self.trades: dict[str, Trade] = {}
        self._by_out: dict[tuple[str, str], str] = {}
        self.transfers: dict[tuple[str, str], Transfer] = {}
        #: Alipay accounts the sandbox knows: logon id -> the holder's name, which transfers must give.
        self.accounts: dict[str, str] = {}
        #: The certificate authority's state (see certificates.SandboxCertificateAuthority.to_state), if any.
        self.ca_state: dict[str, Any] | None = None
        if state_file and state_file.exists():
            self._read(state_file)

    # -- transactions -------------------------------------------------
    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock for a read-modify-write and persist afterwards."""
        with self.lock:
            yield
            self.save()

    def save(self) -> None:
        if not self.state_file:
            return
        with self.lock:
            data = {
                "apps": [_dump(a) for a in self.apps.values()],
                "trades": [_dump(t) for t in self.trades.values()],
                "transfers": [_dump(t) for t in self.transfers.values()],
                "accounts": dict(self.accounts),
                "ca": self.ca_state,
            }
            tmp = self.state_file.with_name(self.state_file.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(json.dumps(data, ensure_ascii=False, indent=1))
            os.replace(tmp, self.state_file)

    def _read(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        for a in data.get("apps", []):
            self.apps[a["app_id"]] = _load(App, a)
        for t in data.get("trades", []):
            self.add_trade(_load(Trade, t))
        for t in data.get("transfers", []):
            transfer = _load(Transfer, t)
            self.transfers[(transfer.app_id, transfer.out_biz_no)] = transfer
        self.accounts.update({str(k): str(v) for k, v in (data.get("accounts") or {}).items()})
        self.ca_state = data.get("ca")

    def reset(self) -> None:
        """Forget trades and transfers (registered apps, accounts and the CA stay)."""
        with self.changing():
            self.trades.clear()
            self._by_out.clear()
            self.transfers.clear()

    # -- apps ---------------------------------------------------------
    def register_app(self, app_id: str, public_key: str, seller_id: str | None = None) -> App:
        with self.changing():
            app = App(app_id=app_id, public_key=public_key, seller_id=seller_id or seller_id_for(app_id))
            self.apps[app_id] = app
            return app

    def register_account(self, logon_id: str, holder_name: str) -> None:
        with self.changing():
            self.accounts[logon_id] = holder_name

    # -- trades -------------------------------------------------------
    def add_trade(self, trade: Trade) -> None:
        with self.lock:
            self.trades[trade.trade_no] = trade
            self._by_out[(trade.app_id, trade.out_trade_no)] = trade.trade_no

    def find_trade(self, app_id: str, *, trade_no: str = "", out_trade_no: str = "") -> Trade | None:
        """``trade_no`` wins over ``out_trade_no``; when both are given they must name the same trade."""
        with self.lock:
            if trade_no:
                trade = self.trades.get(trade_no)
                if trade is None or trade.app_id != app_id:
                    return None
                if out_trade_no and trade.out_trade_no != out_trade_no:
                    return None
                return trade
            if out_trade_no:
                found = self._by_out.get((app_id, out_trade_no))
                return self.trades.get(found) if found else None
            return None

    def lookup(self, key: str, app_id: str = "") -> list[Trade]:
        """Trades whose trade_no or out_trade_no is ``key`` (optionally of one app), for the admin API."""
        with self.lock:
            return [
                t
                for t in self.trades.values()
                if key in (t.trade_no, t.out_trade_no) and (not app_id or t.app_id == app_id)
            ]
