"""Payout-account verification, the way Chinese platforms verify a bank or Alipay account: the gateway sends
a small random amount to the account, and the applicant types what arrived.

The amount is 10-99 fen (0.10 CNY is the transfer's minimum) from the `secrets` CSPRNG. An attempt ends after
three wrong answers or 48 hours; an application gets at most three attempts per settlement day (China time).
Starting a new attempt ends the one still open (its transfer may never have arrived).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.domain.errors import FailedPrecondition
from gateway.domain.onboarding.ids import new_id
from gateway.domain.onboarding.settlement import settlement_day

MIN_AMOUNT = 10
MAX_AMOUNT = 99
MAX_WRONG_ANSWERS = 3
ATTEMPT_LIFETIME = timedelta(hours=48)
MAX_ATTEMPTS_PER_DAY = 3


class AttemptState(enum.Enum):
    SENDING = "SENDING"  # stored before the transfer is asked for; its outcome not known yet
    SENT = "SENT"  # the rail accepted the transfer; the amount is awaited
    VERIFIED = "VERIFIED"
    FAILED = "FAILED"  # three wrong answers
    EXPIRED = "EXPIRED"
    REFUSED = "REFUSED"  # the rail refused the transfer (e.g. the holder's name does not match)
    SUPERSEDED = "SUPERSEDED"  # a newer attempt was started


OPEN_ATTEMPT_STATES = frozenset({AttemptState.SENDING, AttemptState.SENT})


def verification_amount() -> int:
    return MIN_AMOUNT + secrets.randbelow(MAX_AMOUNT - MIN_AMOUNT + 1)


@dataclass(frozen=True, slots=True)
class Attempt:
    id: str  # also the transfer's out_biz_no: Alipay makes a repeated transfer with it harmless
    application_id: str
    amount: int  # fen
    state: AttemptState
    wrong_answers: int
    created_at: datetime
    expires_at: datetime
    refusal: str = ""  # the rail's reason, when REFUSED
    rail_reference: str = ""  # the rail's id of the transfer, once sent

    @classmethod
    def start(cls, application_id: str, now: datetime, amount: int | None = None) -> Attempt:
        amount = verification_amount() if amount is None else amount
        if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
            raise ValueError("a verification amount is 10-99 fen")
        return cls(id=new_id("vat_", now), application_id=application_id,
                   amount=amount, state=AttemptState.SENDING, wrong_answers=0, created_at=now,
                   expires_at=now + ATTEMPT_LIFETIME)

    def is_open(self, now: datetime) -> bool:
        return self.state in OPEN_ATTEMPT_STATES and now < self.expires_at

    @property
    def answers_left(self) -> int:
        return MAX_WRONG_ANSWERS - self.wrong_answers

    def answered(self, amount: int, now: datetime) -> Attempt:
        """The attempt after the applicant's answer: VERIFIED, or one more wrong answer (FAILED at the
        third). Refuses an attempt that is no longer open (EXPIRED when its time ran out)."""
        if self.state in OPEN_ATTEMPT_STATES and now >= self.expires_at:
            return replace(self, state=AttemptState.EXPIRED)
        if self.state not in OPEN_ATTEMPT_STATES:
            raise no_open_attempt(self.application_id)
        if amount == self.amount:
            return replace(self, state=AttemptState.VERIFIED)
        wrong = self.wrong_answers + 1
        return replace(self, wrong_answers=wrong,
                       state=AttemptState.FAILED if wrong >= MAX_WRONG_ANSWERS else self.state)


def no_open_attempt(application_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"application {application_id} has no verification attempt waiting for an amount: start one first",
        reason="NO_VERIFICATION_ATTEMPT", metadata={"application": application_id})


def check_attempts_left(attempts_today: int, application_id: str, now: datetime) -> None:
    if attempts_today >= MAX_ATTEMPTS_PER_DAY:
        raise FailedPrecondition(
            f"application {application_id} had {attempts_today} verification attempts on "
            f"{settlement_day(now).isoformat()} (China time), the most a day allows: try again tomorrow",
            reason="TOO_MANY_VERIFICATION_ATTEMPTS",
            metadata={"application": application_id, "limit": str(MAX_ATTEMPTS_PER_DAY)})
