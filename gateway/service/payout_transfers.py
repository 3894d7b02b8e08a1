"""Onboarding's payout-account transfers (ports.PayoutAccountTransfers) on top of a plugin's payout rail
(channels.contract.PayoutRail, registered with the `cashier_register_payout_rails` hook).

The rail answers SUCCEEDED, REFUSED or UNKNOWN; the port knows "sent", "refused with a reason the applicant
sees", and an exception for "unknown" (the onboarding service then keeps the attempt open: the money may have
arrived). An UNKNOWN is asked about once at once, as refunds are (service/refunds.py), because Alipay often
answers a transfer still DEALING a moment later; it is never read as sent or refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from channels.contract.payouts import (
    PayoutRail,
    TransferAnswer,
    TransferOutcome,
    TransferPurpose,
    TransferRequest,
)
from gateway.service.ports import PayoutAccountTransfers, TransferResult

log = logging.getLogger(__name__)
_A = TypeVar("_A")


class TransferUnknown(RuntimeError):
    """The rail gave no usable answer about a transfer: it may or may not have moved the money."""

    def __init__(self, out_biz_no: str, detail: str):
        super().__init__(f"transfer {out_biz_no}: the rail's answer is unknown ({detail or 'no detail'})")
        self.out_biz_no = out_biz_no
        self.detail = detail


class RailAccountTransfers:
    """PayoutAccountTransfers through one payout rail."""

    def __init__(self, rail: PayoutRail):
        self.rail = rail

    def send(self, logon_id: str, holder_name: str, amount: int, out_biz_no: str) -> TransferResult:
        request = TransferRequest(out_biz_no=out_biz_no, amount=amount, payee_logon_id=logon_id,
                                  payee_name=holder_name, purpose=TransferPurpose.ACCOUNT_VERIFICATION)
        answer = self._checked(self._ask(self.rail.transfer, request, out_biz_no), out_biz_no)
        if answer.outcome is TransferOutcome.UNKNOWN:
            log.info("payout rail %s: transfer %s unknown (%s); asking once", self.rail.name, out_biz_no,
                     answer.detail)
            answer = self._checked(self._ask(self.rail.query, out_biz_no, out_biz_no), out_biz_no)
        if answer.outcome is TransferOutcome.SUCCEEDED:
            return TransferResult(sent=True, reference=answer.reference)
        if answer.outcome is TransferOutcome.REFUSED:
            assert answer.refusal is not None  # TransferAnswer holds a refusal exactly when REFUSED
            return TransferResult(sent=False, refusal=answer.refusal.message)
        raise TransferUnknown(out_biz_no, answer.detail)

    def close(self) -> None:
        """Release what the rail holds (its connection pool), if it says how: `close()` is optional."""
        close = getattr(self.rail, "close", None)
        if callable(close):
            close()

    @staticmethod
    def _ask(call: Callable[[_A], TransferAnswer], argument: _A, out_biz_no: str) -> object:
        try:
            return call(argument)
        except Exception as exc:  # noqa: BLE001 - the contract: a rail's exception is an unknown answer
            raise TransferUnknown(out_biz_no, f"the rail raised {type(exc).__name__}") from exc

    def _checked(self, answer: object, out_biz_no: str) -> TransferAnswer:
        # A plugin is outside our type checks: anything but an answer about this very transfer is unknown,
        # never a success or a refusal of something else.
        if not isinstance(answer, TransferAnswer):
            raise TransferUnknown(out_biz_no, f"the rail answered {type(answer).__name__}, not a TransferAnswer")
        if answer.out_biz_no != out_biz_no:
            raise TransferUnknown(out_biz_no, f"the rail answered about transfer {answer.out_biz_no!r}")
        return answer


def account_transfers(rails: Sequence[PayoutRail], name: str = "") -> PayoutAccountTransfers | None:
    """The account-verification transfers over the payout rail called `name`, or over the only one installed
    when `name` is empty; None when there is none (onboarding then refuses to start a verification, saying
    that no rail is configured). Several rails and no name: a ValueError naming them."""
    if name:
        chosen = [rail for rail in rails if rail.name == name]
        if not chosen:
            raise ValueError(f"no payout rail named {name!r} is installed; installed: "
                             f"{', '.join(r.name for r in rails) or 'none'}")
        return RailAccountTransfers(chosen[0])
    if not rails:
        return None
    if len(rails) > 1:
        raise ValueError(f"several payout rails are installed ({', '.join(r.name for r in rails)}): name the one "
                         "account verification uses")
    return RailAccountTransfers(rails[0])
