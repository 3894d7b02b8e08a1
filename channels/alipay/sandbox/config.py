"""Settings of one sandbox instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .values import beijing_now


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8090  # 0 = any free port
    # app_id -> the app's public key (PEM text, or Alipay's bare one-line Base64)
    apps: dict[str, str] = field(default_factory=dict)
    # The sandbox's own private key ("the Alipay key"): PEM/Base64 text, or a file (created when missing).
    # With neither, a fresh key is generated at start.
    private_key: str | None = None
    key_file: Path | None = None
    # Multiplies the notification retry gaps (4m, 10m, ...); 0.001 turns 4 minutes into 0.24 s.
    time_scale: float = 1.0
    state_file: Path | None = None
    # Base URL written into qr_code, checkout and bill links; default: the URL the request came in on.
    public_url: str | None = None
    notify_timeout: float = 5.0
    # Alipay notifies TRADE_SUCCESS by default; refund notifications are opt-in here.
    notify_refunds: bool = False
    # Alipay answers ACQ.TRADE_NOT_EXIST for a precreated trade until the buyer scans its QR code.
    hide_unscanned_precreate: bool = True
    # Alipay serves a day's bill from the next day on (T+1); the sandbox serves today's too unless strict.
    strict_bill_date: bool = False
    bill_url_ttl: float = 30.0
    # Alipay's service fee (服务费) on each paid trade, in basis points of its amount (60 = 0.6 %, the common
    # rate), rounded half up to the fen; refunds give it back pro rata (bill_book.py says how exactly).
    service_fee_bps: int = 60
    clock: Callable[[], datetime] = beijing_now
    # Apps (of ``apps``) in certificate mode: the sandbox issues each an app certificate for its key.
    certificate_apps: tuple[str, ...] = ()
    # Alipay accounts: logon id -> the holder's name, which a transfer's payee_info.name must match.
    accounts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bps = self.service_fee_bps
        if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps <= 10_000:
            raise ValueError("service_fee_bps: whole basis points from 0 to 10000 (60 = 0.6 %)")
