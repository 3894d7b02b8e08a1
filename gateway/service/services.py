"""What the faces (gRPC in gateway/api, HTTP in gateway/web) may call: the service layer's use cases and the
few read-only facts about the running gateway they answer with, and nothing of how it was put together.

The composition root (gateway/bootstrap.py) builds the services and hands them to the faces it builds as
`Services`; a face never imports the root, so the root can import the faces (an import-linter contract in
pyproject.toml holds this). The root's `Gateway` satisfies this protocol; a face cannot reach the engine,
the plugin manager or the settings through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from channels.contract.protocol import Channel
from gateway.service.admin import AdminService
from gateway.service.auth import Authenticator
from gateway.service.flags import FlagService
from gateway.service.idempotency import IdempotencyService
from gateway.service.onboarding import OnboardingService
from gateway.service.payments import PaymentService
from gateway.service.refunds import RefundService
from gateway.service.watch import WatchService
from settlement.service.statements import SettlementQueries

C = TypeVar("C")


class Services(Protocol):
    # Read-only properties: the root's dataclass fields satisfy them (a Protocol's mutable attribute would
    # have to be declared with exactly the field's type), and a face cannot replace a service.

    @property
    def authenticator(self) -> Authenticator:
        """API keys to principals (the gRPC interceptor)."""

    @property
    def payments(self) -> PaymentService:
        """Create, read, list, close and preview payments; checkout pages and channels' notifications."""

    @property
    def refunds(self) -> RefundService: ...

    @property
    def watches(self) -> WatchService:
        """WatchPayment's streams."""

    @property
    def idempotency(self) -> IdempotencyService:
        """Idempotency-Key claims of the writing RPCs."""

    @property
    def admin(self) -> AdminService:
        """Merchants as stored (MerchantService's GetMerchant and ListMerchants)."""

    @property
    def onboarding(self) -> OnboardingService:
        """Applications, their review, payout-account verification, settlement plans, deposits, the
        application square and app authorisations, the audit trail (MerchantService)."""

    @property
    def settlement(self) -> SettlementQueries:
        """Balances, payouts, ledger entries and statements (SettlementService's reads)."""

    @property
    def flags(self) -> FlagService:
        """Flags for an operator (a notification genuine but for another account of the rail)."""

    @property
    def channels(self) -> Sequence[Channel]:
        """The channels registered at start-up (ListChannels)."""

    def channel_origin(self, channel_name: str) -> tuple[str, str]:
        """(distribution, version) of the plugin that registered a channel; ("", "") if unknown."""

    def capable(self, name: str, capability: type[C]) -> C | None:
        """The channel `name` if it has `capability` (a protocol of channels/contract/protocol.py), else None."""

    def database_ok(self) -> bool:
        """Whether the database answers now (/healthz: the faces know no SQL)."""
