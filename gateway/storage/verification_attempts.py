"""Payout-account verification attempts (gateway/domain/onboarding/verification.py): one row per transfer
sent, with its amount.

Lock order: gateway/storage/__init__.py; attempts are changed after their application's row is locked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from gateway.domain.onboarding.verification import OPEN_ATTEMPT_STATES, Attempt, AttemptState
from gateway.storage.tables import verification_attempts as attempts


def _attempt(row: Any) -> Attempt:
    return Attempt(id=row.attempt_id, application_id=row.application_id, amount=row.amount,
                   state=AttemptState(row.state), wrong_answers=row.wrong_answers, created_at=row.created_at,
                   expires_at=row.expires_at, refusal=row.refusal, rail_reference=row.rail_reference)


class SqlVerificationRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, attempt: Attempt) -> None:
        self.conn.execute(insert(attempts).values(
            application_id=attempt.application_id, attempt_id=attempt.id, amount=attempt.amount,
            state=attempt.state.value, wrong_answers=attempt.wrong_answers, refusal=attempt.refusal,
            rail_reference=attempt.rail_reference, created_at=attempt.created_at, expires_at=attempt.expires_at))

    def latest(self, application_id: str) -> Attempt | None:
        row = self.conn.execute(select(attempts).where(attempts.c.application_id == application_id)
                                .order_by(attempts.c.attempt_id.desc()).limit(1)).first()
        return _attempt(row) if row else None

    def save(self, attempt: Attempt, expected: AttemptState, expected_wrong_answers: int) -> bool:
        return self.conn.execute(
            update(attempts).where(attempts.c.application_id == attempt.application_id,
                                   attempts.c.attempt_id == attempt.id, attempts.c.state == expected.value,
                                   attempts.c.wrong_answers == expected_wrong_answers)
            .values(state=attempt.state.value, wrong_answers=attempt.wrong_answers, refusal=attempt.refusal,
                    rail_reference=attempt.rail_reference)).rowcount == 1

    def count_since(self, application_id: str, since: datetime) -> int:
        return self.conn.execute(select(func.count()).select_from(attempts).where(
            attempts.c.application_id == application_id, attempts.c.created_at >= since)).scalar_one()

    def close_open(self, application_id: str, state: AttemptState) -> int:
        return self.conn.execute(update(attempts).where(
            attempts.c.application_id == application_id,
            attempts.c.state.in_([s.value for s in OPEN_ATTEMPT_STATES])).values(state=state.value)).rowcount
