"""Merchants, the trading apps that act for them, and the operators who run the platform."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.errors import FailedPrecondition


class MerchantState(enum.Enum):
    SUBMITTED = "SUBMITTED"
    UNDER_REVIEW = "UNDER_REVIEW"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class SettlementPlan(enum.Enum):
    T15 = "T15"
    T0 = "T0"


@dataclass(frozen=True, slots=True)
class Merchant:
    id: str
    display_name: str
    state: MerchantState
    settlement_account_verified: bool
    business_category: str
    settlement_plan: SettlementPlan
    created_at: datetime

    @property
    def collection_enabled(self) -> bool:
        return self.state is MerchantState.APPROVED and self.settlement_account_verified

    def check_can_collect(self) -> None:
        """Refuse collection with the precise reason a trading app can show its merchant."""
        if self.state is not MerchantState.APPROVED:
            raise FailedPrecondition(
                f"merchant {self.id} is {self.state.value}, not APPROVED: it cannot collect payments yet",
                reason="MERCHANT_NOT_APPROVED",
                metadata={"merchant": self.id, "state": self.state.value},
            )
        if not self.settlement_account_verified:
            raise FailedPrecondition(
                f"merchant {self.id} has no verified settlement account: it cannot collect payments yet",
                reason="SETTLEMENT_ACCOUNT_NOT_VERIFIED",
                metadata={"merchant": self.id},
            )


class PrincipalKind(enum.Enum):
    APP = "APP"
    OPERATOR = "OPERATOR"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a trading app (with the merchants that authorised it) or an operator."""

    kind: PrincipalKind
    id: str
    merchant_ids: frozenset[str] = frozenset()

    def acts_for(self, merchant_id: str) -> bool:
        return merchant_id in self.merchant_ids


@dataclass(frozen=True, slots=True)
class App:
    id: str
    display_name: str
    key_prefix: str
    created_at: datetime
    disabled: bool = False
