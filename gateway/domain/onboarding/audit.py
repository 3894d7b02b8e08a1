"""The audit trail of onboarding: who changed what, when, with the state before and after. Written in the
transaction of the change; never edited (the contract has no RPC that could)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.domain.onboarding.ids import new_id


class ActorKind(enum.Enum):
    OPERATOR = "OPERATOR"
    APP = "APP"
    APPLICANT = "APPLICANT"  # an applicant's platform account, named by the management centre
    SYSTEM = "SYSTEM"  # the gateway itself (retention, scheduled releases)


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: str
    # Who passed the action on: the operator (management centre) acting for an applicant or a merchant.
    via: str = ""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: str  # sorts by time
    at: datetime
    actor: Actor
    action: str  # e.g. application.submitted, merchant.plan_set, document.read
    subject: str  # the resource's name, e.g. applications/apl_…, merchants/shop-1/deposits/dep_…
    application_id: str = ""
    merchant_id: str = ""
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = field(default=None)

    @classmethod
    def create(cls, *, actor: Actor, action: str, subject: str, now: datetime, application_id: str = "",
               merchant_id: str = "", before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> AuditEvent:
        return cls(id=new_id("aud_", now), at=now, actor=actor,
                   action=action, subject=subject, application_id=application_id, merchant_id=merchant_id,
                   before=before, after=after)
