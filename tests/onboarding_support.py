"""Shared by the onboarding tests: valid forms of each kind, a settable clock, and a stand-in for the Alipay
transfer (the one port the service's unit tests may fake; end-to-end tests use the sandbox)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.domain.onboarding.application import (
    ApplicationForm,
    BasicInfo,
    BusinessInfo,
    FinancialInfo,
    Kind,
)
from gateway.service.ports import TransferResult

CREDIT_CODE = "91350100M000100Y43"
OTHER_CREDIT_CODE = "91110000600037341L"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"1 0 obj\n" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def form(kind: Kind | None = Kind.ENTERPRISE, merchant_id: str = "tea-house", **changes: Any) -> ApplicationForm:
    legal = "Fuzhou Tea House Co., Ltd."
    base = ApplicationForm(
        merchant_id=merchant_id, display_name="Tea House",
        basic=BasicInfo(applicant_account_id="acct-1001", kind=kind, contact_name="Lin Mei",
                        contact_phone="13800138000", contact_email="lin@example.com"),
        business=BusinessInfo(legal_name=legal, credit_code=CREDIT_CODE, registered_address="1 Wusi Road, Fuzhou",
                              business_scope="Tea retail", business_category="food"),
        financial=FinancialInfo(payout_logon_id="finance@teahouse.example", holder_name=legal))
    if kind is Kind.INDIVIDUAL:
        base = replace(base, business=BusinessInfo("", "", "", "", "crafts"),
                       financial=FinancialInfo("13900139000", "Wang Fang"))
    for path, value in changes.items():
        part, _, name = path.partition("__")
        base = replace(base, **{part: replace(getattr(base, part), **{name: value})}) if name else \
            replace(base, **{part: value})
    return base


class Clock:
    def __init__(self, at: datetime | None = None):
        self.at = at or datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in China

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass
class AlipayStandIn:
    """Answers transfers as Alipay would for the accounts it knows (logon id → holder name)."""

    accounts: dict[str, str] = field(default_factory=lambda: {
        "finance@teahouse.example": "Fuzhou Tea House Co., Ltd.", "13900139000": "Wang Fang",
        "owner@teahouse.example": "Lin Mei"})
    sent: list[tuple[str, str, int, str]] = field(default_factory=list)
    fail_with: Exception | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, logon_id: str, holder_name: str, amount: int, out_biz_no: str) -> TransferResult:
        if self.fail_with is not None:
            raise self.fail_with
        known = self.accounts.get(logon_id)
        if known is None:
            return TransferResult(sent=False, refusal="the payee account does not exist")
        if known != holder_name:
            return TransferResult(sent=False, refusal="the payee's name does not match the account (PAYEE_USER_INFO_ERROR)")
        with self.lock:
            self.sent.append((logon_id, holder_name, amount, out_biz_no))
        return TransferResult(sent=True, reference=f"2026112700{len(self.sent):06d}")
