"""What an Alipay answer means for the cashier: one closed outcome plus a gRPC status name.

``SUCCESS``: Alipay definitely did (or had already done) what was asked.
``FAILURE``: Alipay definitely did not, and will not without a new request.
``UNKNOWN``: we cannot tell. The caller must query later and never guess; repeating a money-moving call
is only safe with the same out_request_no / out_biz_no.

The gRPC status travels as its NAME ("NOT_FOUND") so the gateway maps it without this rail importing
grpc. Every rule lives in :data:`OUTCOME_RULES`; :func:`classify_answer` only looks rules up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypedDict


class Outcome(enum.Enum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    UNKNOWN = "UNKNOWN"


class Operation(str, enum.Enum):
    """Server-to-server calls; the value is the gateway method name."""

    PRECREATE = "alipay.trade.precreate"
    QUERY = "alipay.trade.query"
    CLOSE = "alipay.trade.close"
    REFUND = "alipay.trade.refund"
    REFUND_QUERY = "alipay.trade.fastpay.refund.query"
    TRANSFER = "alipay.fund.trans.uni.transfer"
    TRANSFER_QUERY = "alipay.fund.trans.common.query"
    BILL_URL = "alipay.data.dataservice.bill.downloadurl.query"


@dataclass(frozen=True)
class AlipayOutcome:
    """The verdict on one call. ``code``/``sub_code`` are Alipay's, None when no answer arrived.

    ``reason`` is a short stable token for logs and metrics ("alipay_answer", "timeout",
    "response_signature_invalid", ...). ``request_sent`` is False only when the request certainly
    never left (connection refused), which is what makes blind retries of money calls safe.
    """

    outcome: Outcome
    grpc_status: str
    reason: str
    code: str | None = None
    sub_code: str | None = None
    msg: str | None = None
    sub_msg: str | None = None
    request_sent: bool = True
    retryable: bool = False

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILURE

    @property
    def unknown(self) -> bool:
        return self.outcome is Outcome.UNKNOWN


@dataclass(frozen=True)
class OutcomeRule:
    """One row: for ``operation`` (None = any), Alipay ``code`` and ``sub_code`` (None = any)."""

    operation: Operation | None
    code: str
    sub_code: str | None
    outcome: Outcome
    grpc_status: str
    why: str
    retryable: bool = False


S, F, U = Outcome.SUCCESS, Outcome.FAILURE, Outcome.UNKNOWN
ANY = None

OUTCOME_RULES: tuple[OutcomeRule, ...] = (
    # --- gateway codes (whole code, any sub_code) ---
    OutcomeRule(ANY, "10000", ANY, S, "OK", "call succeeded; method-specific fields refine it"),
    OutcomeRule(ANY, "10003", ANY, U, "UNAVAILABLE", "still being processed (buyer paying): query later"),
    OutcomeRule(ANY, "20000", ANY, U, "UNAVAILABLE", "service unavailable, result unknown", retryable=True),
    OutcomeRule(ANY, "20001", ANY, F, "PERMISSION_DENIED", "token lacks permission; nothing was done"),
    OutcomeRule(ANY, "40001", ANY, F, "INVALID_ARGUMENT", "missing argument; rejected before processing"),
    OutcomeRule(ANY, "40002", ANY, F, "INVALID_ARGUMENT", "invalid argument or signature; rejected"),
    OutcomeRule(ANY, "40003", ANY, F, "FAILED_PRECONDITION", "app not configured for this call"),
    OutcomeRule(ANY, "40004", ANY, F, "FAILED_PRECONDITION", "business failure: a definite refusal"),
    OutcomeRule(ANY, "40005", ANY, F, "RESOURCE_EXHAUSTED", "call limit; not processed"),
    OutcomeRule(ANY, "40006", ANY, F, "PERMISSION_DENIED", "app lacks the product permission"),
    # --- business sub_codes valid for every operation ---
    OutcomeRule(ANY, "40004", "ACQ.SYSTEM_ERROR", U, "UNAVAILABLE", "Alipay says: retry same params", True),
    OutcomeRule(ANY, "40004", "SYSTEM_ERROR", U, "UNAVAILABLE", "fund APIs' system error", True),
    OutcomeRule(ANY, "40004", "ACQ.INVALID_PARAMETER", F, "INVALID_ARGUMENT", "parameter rejected"),
    OutcomeRule(ANY, "40004", "ACQ.TRADE_NOT_EXIST", F, "NOT_FOUND", "no such trade at Alipay (yet)"),
    OutcomeRule(
        ANY, "40004", "ACQ.CONTEXT_INCONSISTENT", F, "ALREADY_EXISTS", "same out_trade_no, other params"
    ),
    OutcomeRule(
        ANY, "40004", "ACQ.DISCORDANT_REPEAT_REQUEST", F, "ALREADY_EXISTS", "same request no, other amount"
    ),
    OutcomeRule(
        ANY, "40004", "ACQ.TOTAL_FEE_EXCEED", F, "FAILED_PRECONDITION", "amount exceeds what is allowed"
    ),
    OutcomeRule(ANY, "40004", "ACQ.TRADE_HAS_CLOSE", F, "FAILED_PRECONDITION", "trade is closed"),
    OutcomeRule(ANY, "40004", "ACQ.TRADE_HAS_SUCCESS", F, "FAILED_PRECONDITION", "trade is already paid"),
    OutcomeRule(ANY, "40004", "ACQ.TRADE_STATUS_ERROR", F, "FAILED_PRECONDITION", "wrong trade state"),
    OutcomeRule(ANY, "40004", "isp.bill_not_exist", F, "NOT_FOUND", "no bill for that date"),
    # --- per-operation meanings ---
    # Closing something already closed is the goal reached: the close call is "already done".
    OutcomeRule(Operation.CLOSE, "40004", "ACQ.TRADE_HAS_CLOSE", S, "OK", "already closed"),
    # A precreate for a paid out_trade_no gives no QR code: not a success of *this* call, but the caller
    # must learn the trade is paid (query it), so the status says ALREADY_EXISTS, not a plain failure.
    OutcomeRule(Operation.PRECREATE, "40004", "ACQ.TRADE_HAS_SUCCESS", F, "ALREADY_EXISTS", "already paid"),
    # No transfer under that out_biz_no / order_id (JV AlipayFundTransCommonQueryResponse error codes).
    OutcomeRule(Operation.TRANSFER_QUERY, "40004", "ORDER_NOT_EXIST", F, "NOT_FOUND", "no such transfer"),
    # Refund query with a wrong number answers 10000 + empty body; handled in refine_success().
)


def _index(rules: tuple[OutcomeRule, ...]) -> dict[tuple[Operation | None, str, str | None], OutcomeRule]:
    index: dict[tuple[Operation | None, str, str | None], OutcomeRule] = {}
    for rule in rules:
        key = (rule.operation, rule.code, rule.sub_code)
        if key in index:
            raise RuntimeError(f"duplicate outcome rule {key}")
        index[key] = rule
    return index


_RULES = _index(OUTCOME_RULES)


def find_rule(operation: Operation, code: str, sub_code: str | None) -> OutcomeRule | None:
    """Most specific rule first: operation+sub_code, any+sub_code, operation+code, any+code."""
    for key in (
        (operation, code, sub_code),
        (ANY, code, sub_code),
        (operation, code, ANY),
        (ANY, code, ANY),
    ):
        rule = _RULES.get(key)
        if rule is not None:
            return rule
    return None


class _Codes(TypedDict, total=False):
    """What Alipay said, as AlipayOutcome's keyword arguments."""

    code: str | None
    sub_code: str | None
    msg: str | None
    sub_msg: str | None


def classify_answer(
    operation: Operation,
    *,
    code: str | None,
    sub_code: str | None = None,
    msg: str | None = None,
    sub_msg: str | None = None,
    signed: bool = True,
) -> AlipayOutcome:
    """Map one Alipay answer. ``signed`` is False for answers without a signature (gateway errors).

    Unsigned answers are only believed when they are gateway-level refusals (Alipay does not sign
    those). An unsigned 10000 or 40004 is never believed: a definite FAILURE from a message anyone could
    have written would let a forged "refund failed" trigger a second refund.
    """
    details: _Codes = {"code": code, "sub_code": sub_code or None, "msg": msg, "sub_msg": sub_msg}
    if not code:
        return AlipayOutcome(U, "INTERNAL", "answer_without_code", **details)
    if not signed and code in ("10000", "40004"):
        return AlipayOutcome(U, "INTERNAL", "unsigned_answer", **details)
    rule = find_rule(operation, code, sub_code or None)
    if rule is None:
        # An unknown code could mean anything, including success: never guess.
        return AlipayOutcome(U, "UNKNOWN", "unmapped_code", **details)
    return AlipayOutcome(rule.outcome, rule.grpc_status, "alipay_answer", retryable=rule.retryable, **details)


def transport_outcome(reason: str, *, request_sent: bool, grpc_status: str = "UNAVAILABLE") -> AlipayOutcome:
    """No usable answer: timeouts, connection errors, 5xx, unreadable or unverifiable bodies."""
    return AlipayOutcome(U, grpc_status, reason, request_sent=request_sent, retryable=True)


def untrusted_outcome(reason: str, base: AlipayOutcome | None = None) -> AlipayOutcome:
    """An answer arrived but cannot be believed (bad signature, malformed body): UNKNOWN, not retried.

    A bad signature on a response that *claims* success is still UNKNOWN: believing it would let a
    tampering proxy or a misconfigured key mark unpaid orders paid; failing it would let the same
    attacker make us double-refund. Retrying cannot fix a key mismatch, so the operator is alerted
    through the INTERNAL status instead.
    """
    codes: _Codes = {}
    if base is not None:
        codes = {"code": base.code, "sub_code": base.sub_code, "msg": base.msg, "sub_msg": base.sub_msg}
    return AlipayOutcome(U, "INTERNAL", reason, **codes)


def refine(outcome: AlipayOutcome, *, to: Outcome, grpc_status: str, reason: str) -> AlipayOutcome:
    """Turn a 10000 into what its body says (e.g. refund with fund_change=N is UNKNOWN)."""
    return AlipayOutcome(
        to,
        grpc_status,
        reason,
        code=outcome.code,
        sub_code=outcome.sub_code,
        msg=outcome.msg,
        sub_msg=outcome.sub_msg,
    )
