"""Errors the domain and service layer raise. Entrypoints map each class to a transport status.

`reason` is a stable, machine-readable UPPER_SNAKE word (it becomes google.rpc.ErrorInfo.reason);
`metadata` carries identifiers a client can act on. Messages never contain secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class CashierError(Exception):
    reason = "CASHIER_ERROR"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata = metadata or {}


class InvalidArgument(CashierError):
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]):
        self.violations = violations
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(f"invalid request: {summary}")


class Unauthenticated(CashierError):
    reason = "UNAUTHENTICATED"


class PermissionDenied(CashierError):
    reason = "PERMISSION_DENIED"


class NotFound(CashierError):
    reason = "NOT_FOUND"


class AlreadyExists(CashierError):
    reason = "ALREADY_EXISTS"


class FailedPrecondition(CashierError):
    reason = "FAILED_PRECONDITION"


class ResourceExhausted(CashierError):
    """A per-process limit is reached (e.g. concurrent WatchPayment streams); retry later with back-off."""

    reason = "RESOURCE_EXHAUSTED"


class ChannelUnavailable(CashierError):
    """A channel failed while preparing or operating; nothing was stored, the call may be retried."""

    reason = "CHANNEL_FAILED"


@dataclass
class Violations:
    """Collects field violations so that one response names every offending field at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.items.append(FieldViolation(field_path, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)
