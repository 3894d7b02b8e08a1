"""Statement sources: what the channel says moved, a day at a time, for settlement's reconciliation.

A rail keeps its own record of every trade, refund and transfer (Alipay: the ``trade`` bill of trades made
through the API, and the ``signcustomer`` account bill of every movement of the platform's balance). A
:class:`StatementSource` hands that record to settlement as neutral :class:`StatementLine` values, so
reconciliation never reads a rail's file format and a second rail plugs in the same way.

Two statements per day (:class:`StatementKind`):

* ``TRADES``: one line per payment collected and per refund given back, with the rail's own fee on it.
* ``ACCOUNT``: one line per movement of the platform's balance at the rail: collections, refunds, fees
  charged, transfers out (payouts, account verifications).

Lines are *streamed* (an iterator): a busy day is a million lines, and the reader never holds them all.
Amounts are integer fen (CNY minor units), signed from the platform's side: money into its account is
positive, money out negative. ``reference`` is *our* number for the movement (the gateway's payment id,
which Alipay channels send as ``out_trade_no``; the refund id, sent as ``out_request_no``; a payout part's
``out_biz_no``) or "" when the rail gives none; ``channel_reference`` is the rail's own (Alipay's trade
number or account-flow number).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "LineKind", "StatementKind", "StatementLine", "StatementNotReady", "StatementSource",
]


class StatementKind(enum.Enum):
    TRADES = "TRADES"  # Alipay: bill_type=trade
    ACCOUNT = "ACCOUNT"  # Alipay: bill_type=signcustomer


class LineKind(enum.Enum):
    PAYMENT = "PAYMENT"  # a buyer's payment collected (positive)
    REFUND = "REFUND"  # money given back to a buyer (negative)
    FEE = "FEE"  # the rail's own charge (Alipay: 收费 in the account bill); negative, positive when given back
    TRANSFER = "TRANSFER"  # money sent out under our out_biz_no (payouts, verifications); negative
    OTHER = "OTHER"  # anything else the account moved (top-ups, withdrawals); reconciliation flags it


class StatementNotReady(Exception):  # noqa: N818 - a state of the world, not a programming error
    """The rail has no statement for that day yet (Alipay: ``isp.bill_not_exist``, usual before ~9:00 the
    next day): ask again later. The message is safe to show an operator."""


@dataclass(frozen=True, slots=True)
class StatementLine:
    kind: LineKind
    #: Our number for the movement ("" when the rail gives none); see the module.
    reference: str
    #: The rail's own number (Alipay: 支付宝交易号 in the trade bill, 账务流水号 in the account bill).
    channel_reference: str
    #: Signed fen from the platform's side: in > 0, out < 0.
    amount: int
    #: The rail's fee on this line, fen, as a cost (Alipay: 服务费 of the trade bill): positive when charged (a
    #: PAYMENT), negative when the rail gives it back (a REFUND: Alipay returns the fee pro rata); 0 if none.
    #: Summing ``fee`` over a day's lines gives the day's net cost.
    fee: int
    #: When the rail finished the movement (timezone-aware).
    occurred_at: datetime
    #: For a REFUND line, the payment's reference (Alipay: the trade's out_trade_no); "" otherwise.
    payment_reference: str = ""


@runtime_checkable
class StatementSource(Protocol):
    """A rail's daily statements (registered by ``cashier_register_statement_sources``).

    Called from the settlement's job or the operator's CLI, never on a request's path; may block on the
    network. It keeps no state between calls.
    """

    @property
    def name(self) -> str:
        """Stable and unique among statement sources, e.g. ``alipay``; matches the payout rail's name when
        the same account pays out."""
        ...

    def lines(self, day: date, kind: StatementKind) -> Iterator[StatementLine]:
        """The statement of ``day`` (the rail's day: Alipay's bills run 00:00-24:00 Beijing time) as lines.

        The statement is fetched when this is *called*: :class:`StatementNotReady` (the rail has none yet) and
        any other failure to fetch it (network, permissions, a download too big; an exception of the rail, its
        message safe to show an operator) are raised by the call, before any line. While iterating, what the
        rail sent that cannot be read raises ``ValueError`` with a message naming the line and the column
        (it never guesses an amount)."""
        ...

    def read_file(self, data: bytes, kind: StatementKind) -> Iterator[StatementLine]:
        """The same lines from a statement file an operator downloaded by hand (Alipay: the bill's zip)."""
        ...
