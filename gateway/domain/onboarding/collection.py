"""Whether a merchant may collect: its application APPROVED and its payout account VERIFIED (and, for an
ordinary individual, individuals open). The payment path asks `collection_refusal` and raises what it gets:
each reason names what is missing."""

from __future__ import annotations

from gateway.domain.errors import FailedPrecondition
from gateway.domain.onboarding.application import AccountState, Application, ApplicationState, Kind

_STATE_REASONS = {
    ApplicationState.SUBMITTED: ("APPLICATION_UNDER_REVIEW", "its application is still under review"),
    ApplicationState.SENT_BACK: ("APPLICATION_SENT_BACK", "its application was sent back for changes"),
    ApplicationState.REJECTED: ("APPLICATION_REJECTED", "its application was rejected"),
    ApplicationState.WITHDRAWN: ("APPLICATION_WITHDRAWN", "its application was withdrawn"),
}


def collection_refusal(merchant_id: str, application: Application | None,
                       individuals_open: bool) -> FailedPrecondition | None:
    """None when the merchant may collect; otherwise the error to raise. `application`: the merchant's
    latest application (None: the merchant has none, e.g. it was created before onboarding existed; such a
    merchant is judged by its own row, Merchant.check_can_collect)."""
    if application is None:
        return None
    state = application.state
    if state is not ApplicationState.APPROVED:
        reason, why = _STATE_REASONS[state]
        return FailedPrecondition(f"merchant {merchant_id} cannot collect payments: {why}", reason=reason,
                                  metadata={"merchant": merchant_id, "application": application.id,
                                            "state": state.value})
    if application.kind is Kind.INDIVIDUAL and not individuals_open:
        return FailedPrecondition(
            f"merchant {merchant_id} cannot collect payments: ordinary individuals are not open",
            reason="INDIVIDUALS_NOT_OPEN", metadata={"merchant": merchant_id, "application": application.id})
    if application.account_state is not AccountState.VERIFIED:
        return FailedPrecondition(
            f"merchant {merchant_id} cannot collect payments: its payout account is not verified "
            f"({application.account_state.value})",
            reason="SETTLEMENT_ACCOUNT_NOT_VERIFIED",
            metadata={"merchant": merchant_id, "application": application.id,
                      "account_state": application.account_state.value})
    return None
