"""The outcome table: UNKNOWN whenever Alipay has not given a definite, trustworthy answer."""

from __future__ import annotations

import pytest

from channels.alipay.rail import OUTCOME_RULES, Operation, Outcome, classify_answer

VALID_GRPC = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
}

CASES = [
    (Operation.QUERY, "10000", None, Outcome.SUCCESS, "OK"),
    (Operation.QUERY, "20000", "isp.unknow-error", Outcome.UNKNOWN, "UNAVAILABLE"),
    (Operation.REFUND, "40004", "ACQ.SYSTEM_ERROR", Outcome.UNKNOWN, "UNAVAILABLE"),
    (Operation.TRANSFER, "40004", "SYSTEM_ERROR", Outcome.UNKNOWN, "UNAVAILABLE"),
    (Operation.QUERY, "40004", "ACQ.TRADE_NOT_EXIST", Outcome.FAILURE, "NOT_FOUND"),
    (Operation.CLOSE, "40004", "ACQ.TRADE_HAS_CLOSE", Outcome.SUCCESS, "OK"),
    (Operation.REFUND, "40004", "ACQ.TRADE_HAS_CLOSE", Outcome.FAILURE, "FAILED_PRECONDITION"),
    (Operation.CLOSE, "40004", "ACQ.TRADE_HAS_SUCCESS", Outcome.FAILURE, "FAILED_PRECONDITION"),
    (Operation.PRECREATE, "40004", "ACQ.TRADE_HAS_SUCCESS", Outcome.FAILURE, "ALREADY_EXISTS"),
    (Operation.REFUND, "40004", "ACQ.TOTAL_FEE_EXCEED", Outcome.FAILURE, "FAILED_PRECONDITION"),
    (Operation.REFUND, "40004", "ACQ.DISCORDANT_REPEAT_REQUEST", Outcome.FAILURE, "ALREADY_EXISTS"),
    (Operation.REFUND, "40004", "ACQ.SOMETHING_NEW", Outcome.FAILURE, "FAILED_PRECONDITION"),
    (Operation.QUERY, "40001", "isv.missing-app-id", Outcome.FAILURE, "INVALID_ARGUMENT"),
    (Operation.QUERY, "40002", "isv.invalid-signature", Outcome.FAILURE, "INVALID_ARGUMENT"),
    (Operation.BILL_URL, "40004", "isp.bill_not_exist", Outcome.FAILURE, "NOT_FOUND"),
    (Operation.QUERY, "40005", None, Outcome.FAILURE, "RESOURCE_EXHAUSTED"),
    (Operation.QUERY, "99999", None, Outcome.UNKNOWN, "UNKNOWN"),
]


@pytest.mark.parametrize(("operation", "code", "sub_code", "outcome", "grpc"), CASES)
def test_table(operation, code, sub_code, outcome, grpc) -> None:
    result = classify_answer(operation, code=code, sub_code=sub_code)
    assert (result.outcome, result.grpc_status) == (outcome, grpc)


def test_only_alipay_unknowns_are_retryable() -> None:
    assert classify_answer(Operation.QUERY, code="20000").retryable
    assert classify_answer(Operation.QUERY, code="40004", sub_code="ACQ.SYSTEM_ERROR").retryable
    assert not classify_answer(Operation.QUERY, code="40004", sub_code="ACQ.TRADE_NOT_EXIST").retryable
    assert not classify_answer(Operation.QUERY, code="10000").retryable


def test_unsigned_success_or_business_answer_is_never_believed() -> None:
    for code in ("10000", "40004"):
        result = classify_answer(Operation.REFUND, code=code, sub_code="ACQ.TRADE_NOT_EXIST", signed=False)
        assert result.outcome is Outcome.UNKNOWN and result.reason == "unsigned_answer"
    gateway_error = classify_answer(
        Operation.REFUND, code="40002", sub_code="isv.invalid-app-id", signed=False
    )
    assert gateway_error.outcome is Outcome.FAILURE


def test_missing_code_is_unknown() -> None:
    assert classify_answer(Operation.QUERY, code=None).outcome is Outcome.UNKNOWN


def test_every_rule_uses_a_real_grpc_status_name_and_explains_itself() -> None:
    for rule in OUTCOME_RULES:
        assert rule.grpc_status in VALID_GRPC
        assert rule.why
        assert (rule.outcome is Outcome.SUCCESS) == (rule.grpc_status == "OK")
