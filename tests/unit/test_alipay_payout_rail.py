"""The Alipay payout plugin's reading of Alipay's answers (channels/alipay_payouts/rail.py): every answer of
alipay.fund.trans.uni.transfer and alipay.fund.trans.common.query lands in the contract's closed outcome, and
no answer that is not a definite success is reported as one. The rail client is replaced by one that hands
back the rail's own result types, as the rail builds them from Alipay's answers; the end-to-end test against
the sandbox is tests/e2e/test_alipay_payouts_sandbox.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from channels.alipay.rail import AlipayConfigError, AlipayOutcome, Outcome, ParameterError
from channels.alipay.rail.results import TransferQueryResult, TransferResult
from channels.alipay_payouts import cashier_register_payout_rails
from channels.alipay_payouts.rail import AlipayPayoutRail
from channels.contract import (
    TRANSFER_NOT_FOUND,
    RefusalReason,
    TransferAnswer,
    TransferOutcome,
    TransferPurpose,
    TransferRequest,
)

REQUEST = TransferRequest("vat_01KB", 37, "finance@teahouse.example", "Fuzhou Tea House Co., Ltd.",
                          TransferPurpose.ACCOUNT_VERIFICATION)


def ok() -> AlipayOutcome:
    return AlipayOutcome(Outcome.SUCCESS, "OK", "alipay_answer", code="10000", msg="Success")


def refused(sub_code: str) -> AlipayOutcome:
    return AlipayOutcome(Outcome.FAILURE, "FAILED_PRECONDITION", "alipay_answer", code="40004",
                         msg="Business Failed", sub_code=sub_code, sub_msg="...")


def unknown(reason: str, **more: Any) -> AlipayOutcome:
    return AlipayOutcome(Outcome.UNKNOWN, "UNAVAILABLE", reason, **more)


@dataclass
class RailClient:
    """Hands back what it is given, as AlipayClient does after reading Alipay's answer; records the calls."""

    answer: Any = None
    raises: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    certificate_mode: bool = True

    def require_certificate_mode(self) -> None:
        if not self.certificate_mode:
            raise AlipayConfigError("needs certificate mode")

    def transfer(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.raises is not None:
            raise self.raises
        return self.answer

    transfer_query = transfer


def transfer(answer: Any = None, raises: Exception | None = None) -> tuple[TransferAnswer, RailClient]:
    client = RailClient(answer, raises)
    return AlipayPayoutRail(client).transfer(REQUEST), client  # type: ignore[arg-type]


def query(answer: Any = None, raises: Exception | None = None) -> TransferAnswer:
    return AlipayPayoutRail(RailClient(answer, raises)).query("vat_01KB")  # type: ignore[arg-type]


def test_a_transfer_pays_the_logon_id_in_the_holders_name() -> None:
    answer, client = transfer(TransferResult(ok(), out_biz_no="vat_01KB", order_id="20261127110070000001",
                                             status="SUCCESS"))
    assert answer == TransferAnswer(TransferOutcome.SUCCEEDED, "vat_01KB", reference="20261127110070000001")
    assert client.calls == [{"out_biz_no": "vat_01KB", "trans_amount_fen": 37,
                             "payee_identity": "finance@teahouse.example", "payee_identity_type": "ALIPAY_LOGON_ID",
                             "payee_name": "Fuzhou Tea House Co., Ltd.", "order_title": "账户验证 account verification"}]


@pytest.mark.parametrize(("sub_code", "reason", "words"), [
    ("PAYEE_USER_INFO_ERROR", RefusalReason.PAYEE_NAME_MISMATCH, "name does not match"),
    ("PAYEE_NOT_EXIST", RefusalReason.PAYEE_NOT_FOUND, "no Alipay account"),
    ("PAYEE_ACCOUNT_STATUS_ERROR", RefusalReason.PAYEE_CANNOT_RECEIVE, "may not receive"),
    ("PAYER_BALANCE_NOT_ENOUGH", RefusalReason.INSUFFICIENT_BALANCE, "platform's Alipay balance"),
    ("EXCEED_LIMIT_SM_AMOUNT", RefusalReason.REJECTED, "Alipay refused the transfer (EXCEED_LIMIT_SM_AMOUNT)"),
])
def test_alipays_refusals_are_refused_with_a_reason_the_applicant_reads(sub_code: str, reason: RefusalReason,
                                                                         words: str) -> None:
    answer, _ = transfer(TransferResult(refused(sub_code)))
    assert answer.outcome is TransferOutcome.REFUSED and answer.refusal is not None
    assert (answer.refusal.reason, answer.refusal.rail_code) == (reason, sub_code)
    assert words in answer.refusal.message


def test_a_transfer_that_failed_or_came_back_is_refused() -> None:
    failed = AlipayOutcome(Outcome.FAILURE, "FAILED_PRECONDITION", "transfer_failed", code="10000")
    answer, _ = transfer(TransferResult(failed, status="FAIL"))
    assert answer.refusal is not None and (answer.refusal.reason, answer.refusal.rail_code) == (
        RefusalReason.REJECTED, "FAIL")
    answer, _ = transfer(TransferResult(failed, status="REFUND"))
    assert answer.refusal is not None and answer.refusal.reason is RefusalReason.PAYEE_CANNOT_RECEIVE


@pytest.mark.parametrize("outcome", [
    unknown("transfer_processing", code="10000"),  # status DEALING
    unknown("timeout"),
    unknown("response_signature_invalid", code="10000"),
    unknown("alipay_answer", code="40004", sub_code="SYSTEM_ERROR"),
    # The same out_biz_no sent with other parameters: the first transfer stands, whatever it did.
    AlipayOutcome(Outcome.FAILURE, "ALREADY_EXISTS", "alipay_answer", code="40004",
                  sub_code="PAYMENT_INFO_INCONSISTENCY"),
])
def test_anything_else_is_unknown(outcome: AlipayOutcome) -> None:
    answer, _ = transfer(TransferResult(outcome, status="DEALING" if outcome.code == "10000" else None))
    assert answer.outcome is TransferOutcome.UNKNOWN and answer.refusal is None and answer.detail


def test_an_exception_is_unknown_but_a_request_the_rail_refuses_to_sign_is_refused() -> None:
    answer, _ = transfer(raises=ConnectionResetError("peer reset"))
    assert (answer.outcome, answer.detail) == (TransferOutcome.UNKNOWN, "exception: ConnectionResetError")
    answer, _ = transfer(raises=ParameterError("payee_info.name", "is required"))
    assert answer.outcome is TransferOutcome.REFUSED and answer.refusal is not None
    assert answer.refusal.message == "payee_info.name: is required"


def test_a_query_reads_the_transfers_status_not_the_querys() -> None:
    paid = query(TransferQueryResult(ok(), out_biz_no="vat_01KB", order_id="2026112711", status="SUCCESS"))
    assert (paid.outcome, paid.reference) == (TransferOutcome.SUCCEEDED, "2026112711")
    failed = AlipayOutcome(Outcome.FAILURE, "FAILED_PRECONDITION", "transfer_failed", code="10000")
    gone = query(TransferQueryResult(failed, status="FAIL", error_code="PAYEE_USER_INFO_ERROR",
                                     fail_reason="收款方姓名与账户不符"))
    assert gone.refusal is not None and gone.refusal.reason is RefusalReason.PAYEE_NAME_MISMATCH
    not_there = AlipayOutcome(Outcome.FAILURE, "NOT_FOUND", "alipay_answer", code="40004", sub_code="ORDER_NOT_EXIST")
    assert query(TransferQueryResult(not_there)) == TransferAnswer.unknown("vat_01KB", TRANSFER_NOT_FOUND)
    # A query Alipay refused (a permission, a bad signature) says nothing of the transfer.
    denied = AlipayOutcome(Outcome.FAILURE, "PERMISSION_DENIED", "alipay_answer", code="40006",
                           sub_code="isv.insufficient-isv-permissions")
    assert query(TransferQueryResult(denied)).outcome is TransferOutcome.UNKNOWN
    assert query(TransferQueryResult(unknown("transfer_processing", code="10000"), status="DEALING")).outcome \
        is TransferOutcome.UNKNOWN
    assert query(raises=TimeoutError()).outcome is TransferOutcome.UNKNOWN


def test_registration_follows_the_configuration() -> None:
    assert cashier_register_payout_rails({}) == []
    with pytest.raises(AlipayConfigError, match=r"\[channels.alipay\], which is missing"):
        cashier_register_payout_rails({"alipay_payouts": {}})
    with pytest.raises(AlipayConfigError, match="unknown keys: title"):
        cashier_register_payout_rails({"alipay_payouts": {"title": "x"}})
    with pytest.raises(AlipayConfigError, match="needs certificate mode"):
        AlipayPayoutRail(RailClient(certificate_mode=False))  # type: ignore[arg-type]
