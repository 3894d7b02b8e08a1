"""Onboarding's payout-account transfers over a plugin's payout rail (gateway/service/payout_transfers.py):
what each of the rail's answers becomes for the applicant. The rail here is a scripted plugin (a stand-in for
Alipay, as AlipayStandIn is); the onboarding service and its database are real."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest

from channels.contract import (
    TRANSFER_NOT_FOUND,
    PayoutRail,
    Refusal,
    RefusalReason,
    TransferAnswer,
    TransferOutcome,
    TransferPurpose,
    TransferRequest,
)
from gateway.domain.errors import ChannelUnavailable, FailedPrecondition
from gateway.domain.onboarding.application import AccountState
from gateway.service.onboarding import OnboardingService
from gateway.service.payout_transfers import RailAccountTransfers, TransferUnknown, account_transfers
from gateway.service.ports import TransferResult
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.onboarding_support import Clock, form
from tests.unit.onboarding.conftest import APPLICANT

MISMATCH = Refusal(RefusalReason.PAYEE_NAME_MISMATCH, "the holder's name does not match the Alipay account",
                   "PAYEE_USER_INFO_ERROR")


@dataclass
class ScriptedRail:
    """Answers transfers and queries from its scripts, in turn; records what it was asked."""

    transfers: deque[TransferOutcome | str] = field(default_factory=deque)
    queries: deque[TransferOutcome | str] = field(default_factory=deque)
    sent: list[TransferRequest] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    name: str = "scripted"

    def _answer(self, what: TransferOutcome | str, out_biz_no: str) -> TransferAnswer:
        if what is TransferOutcome.SUCCEEDED:
            return TransferAnswer(what, out_biz_no, reference="20261127110070000001")
        if what is TransferOutcome.REFUSED:
            return TransferAnswer(what, out_biz_no, refusal=MISMATCH)
        if what is TransferOutcome.UNKNOWN:
            return TransferAnswer.unknown(out_biz_no, "DEALING")
        if what == "other transfer":
            return TransferAnswer(TransferOutcome.SUCCEEDED, "vat_someone_else")
        raise TimeoutError(what)

    def transfer(self, request: TransferRequest) -> TransferAnswer:
        self.sent.append(request)
        return self._answer(self.transfers.popleft(), request.out_biz_no)

    def query(self, out_biz_no: str) -> TransferAnswer:
        self.asked.append(out_biz_no)
        what = self.queries.popleft()
        if what == TRANSFER_NOT_FOUND:
            return TransferAnswer.unknown(out_biz_no, TRANSFER_NOT_FOUND)
        return self._answer(what, out_biz_no)


S, R, U = TransferOutcome.SUCCEEDED, TransferOutcome.REFUSED, TransferOutcome.UNKNOWN


def send(rail: ScriptedRail) -> TransferResult:
    return RailAccountTransfers(rail).send("finance@teahouse.example", "Fuzhou Tea House Co., Ltd.", 37, "vat_1")


def test_the_request_names_the_account_its_holder_and_the_purpose() -> None:
    rail = ScriptedRail(transfers=deque([S]))
    assert isinstance(rail, PayoutRail)
    assert send(rail) == TransferResult(sent=True, reference="20261127110070000001")
    assert rail.sent == [TransferRequest("vat_1", 37, "finance@teahouse.example", "Fuzhou Tea House Co., Ltd.",
                                         TransferPurpose.ACCOUNT_VERIFICATION)]
    assert rail.asked == []


def test_a_refusal_reaches_the_applicant_in_the_rails_words() -> None:
    assert send(ScriptedRail(transfers=deque([R]))) == TransferResult(
        sent=False, refusal="the holder's name does not match the Alipay account")


@pytest.mark.parametrize(("query", "expected"), [
    (S, TransferResult(sent=True, reference="20261127110070000001")),
    (R, TransferResult(sent=False, refusal="the holder's name does not match the Alipay account")),
])
def test_an_unknown_answer_is_asked_about_once_at_once(query: TransferOutcome, expected: TransferResult) -> None:
    rail = ScriptedRail(transfers=deque([U]), queries=deque([query]))
    assert send(rail) == expected and rail.asked == ["vat_1"]


@pytest.mark.parametrize("query", [U, TRANSFER_NOT_FOUND, "query timed out", "other transfer"])
def test_still_unknown_raises_never_sent_nor_refused(query: TransferOutcome | str) -> None:
    with pytest.raises(TransferUnknown, match="vat_1"):
        send(ScriptedRail(transfers=deque([U]), queries=deque([query])))


def test_an_answer_about_another_transfer_is_unknown() -> None:
    with pytest.raises(TransferUnknown, match="vat_someone_else"):
        send(ScriptedRail(transfers=deque(["other transfer"]), queries=deque([U])))


def test_choosing_the_rail() -> None:
    one, two = ScriptedRail(name="alipay"), ScriptedRail(name="bank")
    assert account_transfers([]) is None
    only = account_transfers([one])
    assert isinstance(only, RailAccountTransfers) and only.rail is one
    chosen = account_transfers([one, two], "bank")
    assert isinstance(chosen, RailAccountTransfers) and chosen.rail is two
    with pytest.raises(ValueError, match=r"several payout rails are installed \(alipay, bank\)"):
        account_transfers([one, two])
    with pytest.raises(ValueError, match="no payout rail named 'wechat'"):
        account_transfers([one], "wechat")


def test_the_applicant_sees_the_rails_refusal_and_an_unknown_keeps_the_attempt_open(
        factory: SqlUnitOfWorkFactory, clock: Clock) -> None:
    rail = ScriptedRail(transfers=deque([R, U]), queries=deque([U]))
    service = OnboardingService(factory, RailAccountTransfers(rail), clock=clock)
    app = service.submit(APPLICANT, form())
    with pytest.raises(FailedPrecondition) as refused:
        service.start_verification(APPLICANT, app.id, amount=42)
    assert refused.value.reason == "TRANSFER_REFUSED"
    assert refused.value.message.endswith(": the holder's name does not match the Alipay account")
    view = service.get_application(app.id)
    assert view.application.account_state is AccountState.FAILED
    with pytest.raises(ChannelUnavailable) as unknown:
        service.start_verification(APPLICANT, app.id, amount=43)
    assert unknown.value.reason == "TRANSFER_UNKNOWN"
    assert service.confirm_verification(APPLICANT, app.id, 43)[0].account_state is AccountState.VERIFIED
    assert [r.amount for r in rail.sent] == [42, 43] and len({r.out_biz_no for r in rail.sent}) == 2


def test_closing_releases_the_rail_if_it_can_be_closed() -> None:
    closed: list[str] = []

    class Closable(ScriptedRail):
        def close(self) -> None:
            closed.append(self.name)

    RailAccountTransfers(Closable()).close()
    RailAccountTransfers(ScriptedRail()).close()  # no close(): nothing to do
    assert closed == ["scripted"]
