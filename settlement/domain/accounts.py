"""The ledger's accounts, and the one sign convention every posting follows.

Sign convention (decided once, here): a posting's amount is **positive for a debit and negative for a
credit**, so the postings of an entry, and of the whole ledger, sum to zero. An account's raw sum is
therefore positive for what the platform holds or has spent (channel clearing, costs) and negative for what
it owes or has earned (a merchant's money, fee revenue). `Account.balance(raw)` turns a raw sum into the
sign a person reads: what a merchant is owed is positive in its pending or available balance, fee revenue
earned is positive, Alipay's fees paid are positive. A negative *read* balance is the exception to look at
(e.g. a merchant's available balance after a refund of money already paid out).

Accounts are identified by kind and, for a merchant's accounts, the merchant id; platform accounts have
none. `Account.key` is the stable text form storage keeps (`merchant:<id>:available`, `platform:suspense`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.domain.errors import FieldViolation, InvalidArgument


class Normal(enum.Enum):
    """Which side an account normally grows on; decides the sign of its read balance."""

    DEBIT = 1  # assets and costs: read balance = raw sum
    CREDIT = -1  # liabilities and revenue: read balance = -raw sum


class AccountKind(enum.Enum):
    # --- per merchant: money the platform owes the merchant, in its stages ---
    # Collected, not yet due under the merchant's plan (T+0: until the day's run; T+15: fifteen days).
    MERCHANT_PENDING = "pending"
    # Due, waiting for the next payout (or negative: a refund after payout, netted from later money).
    MERCHANT_AVAILABLE = "available"
    # The deposit a T+0 merchant keeps with the platform; owed back when released.
    MERCHANT_DEPOSIT = "deposit"
    # Handed to the rail as a transfer, outcome not yet confirmed; still owed until Alipay says SUCCESS.
    MERCHANT_PAYOUTS_IN_TRANSIT = "payouts_in_transit"
    # --- the platform's own ---
    # The platform's fee, earned on each payment (less what pro-rata refunds give back).
    PLATFORM_FEE_REVENUE = "fee_revenue"
    # Alipay's service fee (服务费 in the trade bill, 收费 in the account bill): a cost, never the platform's fee.
    ALIPAY_SERVICE_FEES = "alipay_service_fees"
    # The small transfers that verify a merchant's payout account: a cost of onboarding.
    VERIFICATION_TRANSFERS = "verification_transfers"
    # What Alipay holds for the platform: the platform's Alipay balance as the ledger sees it.
    CHANNEL_CLEARING = "channel_clearing"
    # What reconciliation cannot place yet; must return to zero as differences are resolved.
    SUSPENSE = "suspense"

    @property
    def per_merchant(self) -> bool:
        return self in _MERCHANT_KINDS

    @property
    def normal(self) -> Normal:
        return Normal.DEBIT if self in _DEBIT_NORMAL else Normal.CREDIT


_MERCHANT_KINDS = frozenset({AccountKind.MERCHANT_PENDING, AccountKind.MERCHANT_AVAILABLE,
                             AccountKind.MERCHANT_DEPOSIT, AccountKind.MERCHANT_PAYOUTS_IN_TRANSIT})
# Suspense reads like an asset: positive when the ledger expected more than reconciliation could place.
_DEBIT_NORMAL = frozenset({AccountKind.CHANNEL_CLEARING, AccountKind.ALIPAY_SERVICE_FEES,
                           AccountKind.VERIFICATION_TRANSFERS, AccountKind.SUSPENSE})
MAX_MERCHANT_ID = 64


@dataclass(frozen=True, slots=True)
class Account:
    kind: AccountKind
    merchant_id: str = ""  # "" for a platform account

    def __post_init__(self) -> None:
        # An account the ledger cannot name is refused at once, not found wrong in a later reconciliation.
        if self.kind.per_merchant and not (0 < len(self.merchant_id) <= MAX_MERCHANT_ID):
            raise InvalidArgument([FieldViolation(
                "merchant_id", f"the {self.kind.value} account needs a merchant id of 1 to {MAX_MERCHANT_ID} characters")])
        if not self.kind.per_merchant and self.merchant_id:
            raise InvalidArgument([FieldViolation(
                "merchant_id", f"{self.kind.value} is the platform's account and belongs to no merchant")])
        if ":" in self.merchant_id:
            raise InvalidArgument([FieldViolation("merchant_id", "must not contain ':' (the key separator)")])

    @property
    def key(self) -> str:
        if self.kind.per_merchant:
            return f"merchant:{self.merchant_id}:{self.kind.value}"
        return f"platform:{self.kind.value}"

    def balance(self, raw: int) -> int:
        """The balance as a person reads it, from the account's raw sum of postings (see the module)."""
        return raw * self.kind.normal.value

    @classmethod
    def from_key(cls, key: str) -> Account:
        parts = key.split(":")
        try:
            if len(parts) == 3 and parts[0] == "merchant":
                account = cls(AccountKind(parts[2]), parts[1])
            elif len(parts) == 2 and parts[0] == "platform":
                account = cls(AccountKind(parts[1]))
            else:
                raise ValueError(key)
        except (ValueError, InvalidArgument):
            raise InvalidArgument([FieldViolation("account", f"{key[:100]!r} is no ledger account")]) from None
        return account


def pending(merchant_id: str) -> Account:
    return Account(AccountKind.MERCHANT_PENDING, merchant_id)


def available(merchant_id: str) -> Account:
    return Account(AccountKind.MERCHANT_AVAILABLE, merchant_id)


def deposit(merchant_id: str) -> Account:
    return Account(AccountKind.MERCHANT_DEPOSIT, merchant_id)


def in_transit(merchant_id: str) -> Account:
    return Account(AccountKind.MERCHANT_PAYOUTS_IN_TRANSIT, merchant_id)


FEE_REVENUE = Account(AccountKind.PLATFORM_FEE_REVENUE)
ALIPAY_SERVICE_FEES = Account(AccountKind.ALIPAY_SERVICE_FEES)
VERIFICATION_TRANSFERS = Account(AccountKind.VERIFICATION_TRANSFERS)
CHANNEL_CLEARING = Account(AccountKind.CHANNEL_CLEARING)
SUSPENSE = Account(AccountKind.SUSPENSE)
