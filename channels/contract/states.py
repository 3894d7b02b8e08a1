"""Where a payment or refund stands, as lifecycle hooks see it. The gateway's domain uses these same enums
(its state machines decide the moves between them), so a plugin compares `payment.state` with these."""

from __future__ import annotations

import enum


class PaymentState(enum.Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    CLOSED = "CLOSED"
    FAILED = "FAILED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class RefundState(enum.Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
