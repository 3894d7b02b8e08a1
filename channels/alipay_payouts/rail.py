"""Alipay as a payout rail: alipay.fund.trans.uni.transfer to an account named by its logon id (e-mail or
phone) and its holder's name, which Alipay checks, and alipay.fund.trans.common.query by our out_biz_no.

What Alipay answers, in the contract's closed outcome (channels/contract/payouts.py):

* status SUCCESS: SUCCEEDED, with Alipay's order_id as the reference.
* a definite refusal of the transfer (a 40004 business failure, status FAIL or REFUND): REFUSED, with the
  reason mapped from Alipay's sub_code (PAYEE_USER_INFO_ERROR: the name does not match the account;
  PAYEE_NOT_EXIST: no such account; ...) and a message the applicant may read. Alipay's own code is kept in
  ``rail_code`` for operators.
* anything else: UNKNOWN. DEALING, a timeout, a 20000, an answer that does not verify, the same out_biz_no
  sent with other parameters (the first transfer stands and only a query can tell what it did), a query
  that itself failed (a failed *query* says nothing of the transfer), and any exception of the rail.
"""

from __future__ import annotations

import logging

from channels.alipay.rail import AlipayClient, AlipayOutcome, AmountError, Outcome, ParameterError
from channels.contract.payouts import (
    TRANSFER_NOT_FOUND,
    Refusal,
    RefusalReason,
    TransferAnswer,
    TransferOutcome,
    TransferPurpose,
    TransferRequest,
)

log = logging.getLogger(__name__)

#: Alipay sub_codes of alipay.fund.trans.uni.transfer / the query's error_code that refuse for the payee's
#: sake, with the message the applicant reads (Alipay's API reference, "业务错误码").
PAYEE_REFUSALS: dict[str, tuple[RefusalReason, str]] = {
    "PAYEE_USER_INFO_ERROR": (
        RefusalReason.PAYEE_NAME_MISMATCH,
        "the holder's name does not match the Alipay account: give the account held in exactly that name "
        "(an enterprise's account for an enterprise)"),
    "PAYEE_NOT_EXIST": (RefusalReason.PAYEE_NOT_FOUND, "no Alipay account has this logon id"),
    "PAYEE_ACCOUNT_NOT_EXSIT": (RefusalReason.PAYEE_NOT_FOUND, "no Alipay account has this logon id"),
    "PAYEE_ACC_OCUPIED": (RefusalReason.PAYEE_NOT_FOUND,
                          "several Alipay accounts share this phone number: give the account's e-mail instead"),
    "PAYEE_ACCOUNT_STATUS_ERROR": (RefusalReason.PAYEE_CANNOT_RECEIVE,
                                   "the Alipay account may not receive money at present (its status at Alipay)"),
    "PAYEE_USERINFO_STATUS_ERROR": (RefusalReason.PAYEE_CANNOT_RECEIVE,
                                    "the Alipay account may not receive money at present (its status at Alipay)"),
    "PERMIT_CHECK_PERM_LIMITED": (RefusalReason.PAYEE_CANNOT_RECEIVE,
                                  "the Alipay account is restricted from receiving this transfer"),
    "PAYER_BALANCE_NOT_ENOUGH": (RefusalReason.INSUFFICIENT_BALANCE,
                                 "the platform's Alipay balance cannot cover the transfer; try again later"),
    "BALANCE_IS_NOT_ENOUGH": (RefusalReason.INSUFFICIENT_BALANCE,
                              "the platform's Alipay balance cannot cover the transfer; try again later"),
}

#: Sent twice under one out_biz_no with other parameters: the first transfer stands, whatever it did.
INCONSISTENT_REPEAT = "PAYMENT_INFO_INCONSISTENCY"

DEFAULT_TITLES = {TransferPurpose.ACCOUNT_VERIFICATION: "账户验证 account verification",
                  TransferPurpose.PAYOUT: "结算款 settlement payout"}


def refusal_for(code: str | None) -> Refusal:
    reason, message = PAYEE_REFUSALS.get(code or "", (
        RefusalReason.REJECTED, f"Alipay refused the transfer ({code or 'no reason given'})"))
    return Refusal(reason, message, code or "")


def _refused_transfer(outcome: AlipayOutcome, status: str | None) -> Refusal:
    if outcome.sub_code:
        return refusal_for(outcome.sub_code)
    if status == "REFUND":
        return Refusal(RefusalReason.PAYEE_CANNOT_RECEIVE,
                       "Alipay returned the transfer: the account could not receive it", "REFUND")
    # A 10000 whose status is FAIL names no code; otherwise Alipay's code (40002, 40006, ...) says what it refused.
    return refusal_for(status if status == "FAIL" else outcome.code)


class AlipayPayoutRail:
    """The platform's own Alipay app paying accounts out. Certificate mode only (Alipay accepts transfers in
    no other): the plugin registers it only for such an app."""

    name = "alipay"

    def __init__(self, client: AlipayClient, titles: dict[TransferPurpose, str] | None = None, account: str = ""):
        client.require_certificate_mode()
        self.client = client
        #: The paying app's id: Alipay de-duplicates out_biz_no per app, and only that app can be asked.
        self.account = account
        self.titles = {**DEFAULT_TITLES, **(titles or {})}

    def transfer(self, request: TransferRequest) -> TransferAnswer:
        try:
            result = self.client.transfer(
                out_biz_no=request.out_biz_no, trans_amount_fen=request.amount,
                payee_identity=request.payee_logon_id, payee_identity_type="ALIPAY_LOGON_ID",
                payee_name=request.payee_name, order_title=request.title or self.titles[request.purpose])
        except (ParameterError, AmountError) as exc:
            # Refused by the rail's own checks before anything was signed or sent (e.g. below 0.10 CNY).
            return TransferAnswer(TransferOutcome.REFUSED, request.out_biz_no,
                                  refusal=Refusal(RefusalReason.REJECTED, str(exc), "INVALID_PARAMETER"))
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the money may have moved
            log.warning("alipay transfer %s: %s; the answer is unknown", request.out_biz_no, type(exc).__name__)
            return TransferAnswer.unknown(request.out_biz_no, f"exception: {type(exc).__name__}")
        outcome = result.outcome
        if outcome.outcome is Outcome.SUCCESS:
            return TransferAnswer(TransferOutcome.SUCCEEDED, request.out_biz_no, reference=result.order_id or "")
        if outcome.outcome is Outcome.FAILURE and outcome.sub_code != INCONSISTENT_REPEAT:
            return TransferAnswer(TransferOutcome.REFUSED, request.out_biz_no, reference=result.order_id or "",
                                  refusal=_refused_transfer(outcome, result.status))
        return TransferAnswer.unknown(request.out_biz_no, outcome.sub_code or outcome.reason)

    def query(self, out_biz_no: str) -> TransferAnswer:
        try:
            result = self.client.transfer_query(out_biz_no=out_biz_no)
        except Exception as exc:  # noqa: BLE001 - a query that could not be made leaves the transfer unknown
            log.warning("alipay transfer query %s: %s; the answer is unknown", out_biz_no, type(exc).__name__)
            return TransferAnswer.unknown(out_biz_no, f"exception: {type(exc).__name__}")
        outcome = result.outcome
        if outcome.outcome is Outcome.SUCCESS:
            return TransferAnswer(TransferOutcome.SUCCEEDED, out_biz_no, reference=result.order_id or "")
        if outcome.outcome is Outcome.FAILURE and result.status == "FAIL":
            # The transfer's own status: it failed at Alipay, for the reason in error_code.
            return TransferAnswer(TransferOutcome.REFUSED, out_biz_no, reference=result.order_id or "",
                                  refusal=refusal_for(result.error_code))
        if outcome.outcome is Outcome.FAILURE and outcome.grpc_status == "NOT_FOUND":
            return TransferAnswer.unknown(out_biz_no, TRANSFER_NOT_FOUND)
        return TransferAnswer.unknown(out_biz_no, outcome.sub_code or outcome.reason)

    def close(self) -> None:
        self.client.close()
