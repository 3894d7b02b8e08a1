"""Payout rails: moving the platform's money to an account it names, under our own transfer number.

Two callers use one rail: onboarding sends a small random amount to verify an applicant's payout account
(the applicant then types the amount received), and settlement pays merchants out. Both identify a transfer
by ``out_biz_no``, unique per transfer and stable across retries, so the rail de-duplicates a repeat instead
of moving money twice; ``purpose`` only tells the rail (and the payee's statement) why the money moves.

Every answer carries the closed :class:`TransferOutcome`:

* ``SUCCEEDED``: the rail says the money reached the payee's account.
* ``REFUSED``: the rail says it did not and will not under this ``out_biz_no``, with a :class:`Refusal` whose
  reason and message may be shown to the applicant or the operator (the holder's name does not match the
  account, no such account, ...). A new attempt needs a new ``out_biz_no``.
* ``UNKNOWN``: no usable answer (a timeout, "still processing", an answer that does not verify). The money
  may have moved: ask again with :meth:`PayoutRail.query`, never report it as either of the others.

Amounts are integer fen (CNY minor units), never floats.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "PayoutRail", "Refusal", "RefusalReason", "TRANSFER_NOT_FOUND", "TransferAnswer", "TransferOutcome",
    "TransferPurpose", "TransferRequest",
]

#: Our transfer number: what Alipay accepts as out_biz_no (and what our ids look like).
_OUT_BIZ_NO = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Alipay's upper bound on a single transfer is far below this; it only keeps a typo from looking valid.
MAX_TRANSFER_FEN = 10_000_000_000

#: ``detail`` of an UNKNOWN answer to :meth:`PayoutRail.query` when the rail has no record of the transfer:
#: it never arrived there, so the caller may send it again under the same ``out_biz_no``.
TRANSFER_NOT_FOUND = "TRANSFER_NOT_FOUND"


class TransferPurpose(enum.Enum):
    ACCOUNT_VERIFICATION = "ACCOUNT_VERIFICATION"  # onboarding: a small random amount the applicant reports
    PAYOUT = "PAYOUT"  # settlement: what a merchant is owed


class TransferOutcome(enum.Enum):
    SUCCEEDED = "SUCCEEDED"
    REFUSED = "REFUSED"
    UNKNOWN = "UNKNOWN"


class RefusalReason(enum.Enum):
    """Why a rail refused a transfer, in words a person can act on. Closed: a rail maps its own codes here
    and keeps the original in ``Refusal.rail_code``."""

    PAYEE_NAME_MISMATCH = "PAYEE_NAME_MISMATCH"  # the holder's name is not the account's (e.g. a personal account)
    PAYEE_NOT_FOUND = "PAYEE_NOT_FOUND"  # no account under that identity
    PAYEE_CANNOT_RECEIVE = "PAYEE_CANNOT_RECEIVE"  # the account exists but may not receive (frozen, restricted)
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"  # the platform's own account cannot cover it (an operator's matter)
    REJECTED = "REJECTED"  # any other definite refusal; the message says what the rail said


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    #: One sentence for the applicant or the operator; never a key, a signature or a whole rail answer.
    message: str
    #: The rail's own code (Alipay's sub_code, e.g. PAYEE_USER_INFO_ERROR), for operators and logs.
    rail_code: str = ""


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One transfer to an account named by the payee's logon id (Alipay: e-mail or phone number) and its
    holder's name, which the rail checks against the account."""

    out_biz_no: str
    amount: int  # fen, at least the rail's minimum (Alipay: 10 fen)
    payee_logon_id: str
    payee_name: str
    purpose: TransferPurpose
    #: Shown on the payee's statement; the rail may shorten it. Empty: the rail's default for the purpose.
    title: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.out_biz_no, str) or not _OUT_BIZ_NO.fullmatch(self.out_biz_no):
            problems.append("out_biz_no: 1-64 letters, digits, '_' or '-'")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or not 0 < self.amount <= MAX_TRANSFER_FEN:
            problems.append(f"amount: a whole number of fen from 1 to {MAX_TRANSFER_FEN}")
        for name, limit, required in (("payee_logon_id", 100, True), ("payee_name", 128, True),
                                      ("title", 128, False)):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
                problems.append(f"{name}: {'required, ' if required else ''}at most {limit} characters")
        if not isinstance(self.purpose, TransferPurpose):
            problems.append("purpose: a TransferPurpose")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class TransferAnswer:
    """What the rail said about the transfer ``out_biz_no``."""

    outcome: TransferOutcome
    out_biz_no: str
    #: The rail's id of the transfer (Alipay's order_id) when it gave one.
    reference: str = ""
    #: Set exactly when ``outcome`` is REFUSED.
    refusal: Refusal | None = None
    #: For operators and logs: why an answer is UNKNOWN ("timeout", TRANSFER_NOT_FOUND, ...).
    detail: str = ""

    def __post_init__(self) -> None:
        if (self.outcome is TransferOutcome.REFUSED) != (self.refusal is not None):
            raise ValueError("a REFUSED answer carries a refusal, and only a REFUSED answer does")

    @classmethod
    def unknown(cls, out_biz_no: str, detail: str) -> TransferAnswer:
        return cls(TransferOutcome.UNKNOWN, out_biz_no, detail=detail)


@runtime_checkable
class PayoutRail(Protocol):
    """A rail that moves the platform's money to accounts (registered by ``cashier_register_payout_rails``).

    Keeps no state of its own and is called from worker threads, possibly concurrently. Neither method
    should raise for a rail's answer: a timeout or an unverifiable answer is UNKNOWN. The caller treats an
    exception as UNKNOWN too, so raising never turns into a false success or refusal. A ``close()`` method,
    if the rail has one, is called when the gateway stops (to release a connection pool), as for channels.

    An ``account`` attribute (text), if the rail has one, names the account it pays from when a rail's
    de-duplication of ``out_biz_no`` holds per account (Alipay: per app). Settlement records it on each
    payout and never asks another account about a transfer, nor sends it again from another account: the
    other account would not know the transfer and would pay it a second time.
    """

    @property
    def name(self) -> str:
        """Stable and unique among payout rails, e.g. ``alipay``."""
        ...

    def transfer(self, request: TransferRequest) -> TransferAnswer:
        """Send ``request.amount`` fen to the payee. Sending the same ``out_biz_no`` again never moves the
        money twice: the rail answers about the first transfer."""
        ...

    def query(self, out_biz_no: str) -> TransferAnswer:
        """What became of the transfer sent under ``out_biz_no``: SUCCEEDED, REFUSED, or UNKNOWN (with
        ``detail`` TRANSFER_NOT_FOUND when the rail has no record of it)."""
        ...
