"""What a channel author supplies for the checks that need their rail: the ``cashier_rail`` fixture.

The kit cannot forge a *genuine* notification for a rail it has never seen. A channel author defines, in
their ``conftest.py``::

    @pytest.fixture(scope="session")
    def cashier_rail():
        return MyRail()   # anything with the two methods of `Rail` below

Without it, the checks that need it are skipped and say so. For channels built on the Alipay toolkit the
kit supplies its own (channels/testing/alipay.py), signed by the local sandbox it started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from channels.contract import PaymentView


@dataclass(frozen=True, slots=True)
class NotificationSample:
    """A notification as the rail posts it to ``/notify/<channel>/<merchant>``."""

    body: bytes
    content_type: str


@runtime_checkable
class Rail(Protocol):
    def genuine_notification(self, payment: PaymentView) -> NotificationSample:
        """A notification the rail would genuinely send for ``payment``, paid in full."""
        ...

    def tampered_notifications(self, payment: PaymentView) -> Mapping[str, NotificationSample]:
        """Variants the channel must refuse, by what is wrong with them (e.g. "amount changed after
        signing", "signed by another key", "for another account"), each raising NotificationRejected."""
        ...
