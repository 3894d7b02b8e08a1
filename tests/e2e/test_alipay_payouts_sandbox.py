"""The Alipay payout plugin against the Alipay sandbox in certificate mode, over real HTTP: configured as an
operator configures it (`[channels.alipay]` with the three certificate files), found through its hook, paying a
known account only under its holder's name, de-duplicating by out_biz_no, and carrying onboarding's account
verification from the transfer to the applicant's confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import channels.alipay_payouts
from channels.contract import (
    TRANSFER_NOT_FOUND,
    PayoutRail,
    RefusalReason,
    TransferAnswer,
    TransferOutcome,
    TransferPurpose,
    TransferRequest,
)
from gateway.domain.errors import FailedPrecondition
from gateway.domain.onboarding.application import AccountState, Decision, FinancialInfo
from gateway.plugins import PluginError, collect_payout_rails, make_plugin_manager
from gateway.service.onboarding import OnboardingService
from gateway.service.payout_transfers import account_transfers
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.e2e.alipay_world import World, new_rsa_key, private_pem, public_pem, start_world, unique
from tests.onboarding_support import PNG, form
from tests.unit.onboarding.conftest import APPLICANT, OPERATOR

CERT_APP_ID = "2021000000000401"
KEY_APP_ID = "2021000000000402"
LEGAL_NAME = "Fuzhou Tea House Co., Ltd."
LOGON_ID = "finance@teahouse.example"
PERSONAL_LOGON_ID = "owner@teahouse.example"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = start_world(time_scale=0.0005)
    try:
        w.admin.post("/sandbox/accounts", json={"logon_id": LOGON_ID, "name": LEGAL_NAME}).raise_for_status()
        w.admin.post("/sandbox/accounts", json={"logon_id": PERSONAL_LOGON_ID, "name": "Lin Mei"}).raise_for_status()
        yield w
    finally:
        w.close()


def app_table(world: World, folder: Path, app_id: str, *, certificate_mode: bool) -> dict[str, Any]:
    key = new_rsa_key()
    answer = world.admin.post("/sandbox/apps", json={"app_id": app_id, "public_key": public_pem(key),
                                                     "certificate_mode": certificate_mode})
    assert answer.status_code == 201, answer.text
    (folder / "app_private_key.pem").write_bytes(private_pem(key))
    table = {"gateway_url": world.gateway_url, "app_id": app_id,
             "app_private_key_file": str(folder / "app_private_key.pem")}
    if not certificate_mode:
        (folder / "alipay_public_key.pem").write_text(world.admin.get("/sandbox/public-key").text)
        return {**table, "alipay_public_key_file": str(folder / "alipay_public_key.pem")}
    files = answer.json()
    for key_name, field, name in (("app_cert_file", "app_cert", f"appCertPublicKey_{app_id}.crt"),
                                  ("alipay_cert_file", "alipay_cert", "alipayCertPublicKey_RSA2.crt"),
                                  ("alipay_root_cert_file", "alipay_root_cert", "alipayRootCert.crt")):
        (folder / name).write_text(files[field])
        table[key_name] = str(folder / name)
    return table


@pytest.fixture(scope="module")
def config(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"alipay": app_table(world, tmp_path_factory.mktemp("payouts"), CERT_APP_ID, certificate_mode=True)}


@pytest.fixture(scope="module")
def rail(config: dict[str, Any]) -> Iterator[PayoutRail]:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_payouts])
    rails = collect_payout_rails(pm, config)
    assert [r.name for r in rails] == ["alipay"]
    yield rails[0]
    rails[0].close()  # type: ignore[attr-defined]


def request(out_biz_no: str, logon_id: str = LOGON_ID, name: str = LEGAL_NAME, amount: int = 37) -> TransferRequest:
    return TransferRequest(out_biz_no, amount, logon_id, name, TransferPurpose.ACCOUNT_VERIFICATION)


def recorded(world: World, out_biz_no: str) -> list[dict[str, Any]]:
    return [t for t in world.admin.get("/sandbox/transfers").json()["transfers"] if t["out_biz_no"] == out_biz_no]


def test_a_transfer_pays_once_under_its_out_biz_no(world: World, rail: PayoutRail) -> None:
    out_biz_no = unique("vat")
    paid = rail.transfer(request(out_biz_no))
    assert paid.outcome is TransferOutcome.SUCCEEDED and paid.reference
    assert rail.transfer(request(out_biz_no)) == paid  # sent again: Alipay answers about the first
    assert [(t["status"], t["trans_amount"]) for t in recorded(world, out_biz_no)] == [("SUCCESS", "0.37")]
    assert rail.query(out_biz_no) == paid


def test_never_sent_is_not_found(rail: PayoutRail) -> None:
    out_biz_no = unique("vat")
    assert rail.query(out_biz_no) == TransferAnswer.unknown(out_biz_no, TRANSFER_NOT_FOUND)


@pytest.mark.parametrize(("logon_id", "name", "reason", "code"), [
    (PERSONAL_LOGON_ID, LEGAL_NAME, RefusalReason.PAYEE_NAME_MISMATCH, "PAYEE_USER_INFO_ERROR"),
    ("fail-nobody@example.com", LEGAL_NAME, RefusalReason.PAYEE_NOT_FOUND, "PAYEE_NOT_EXIST"),
])
def test_alipays_refusals_are_refused_and_stay_so(world: World, rail: PayoutRail, logon_id: str, name: str,
                                                   reason: RefusalReason, code: str) -> None:
    out_biz_no = unique("vat")
    answer = rail.transfer(request(out_biz_no, logon_id, name))
    assert answer.outcome is TransferOutcome.REFUSED and answer.refusal is not None
    assert (answer.refusal.reason, answer.refusal.rail_code) == (reason, code)
    assert [t["status"] for t in recorded(world, out_biz_no)] == ["FAIL"]
    queried = rail.query(out_biz_no)
    assert queried.refusal is not None and queried.refusal.reason is reason


def test_an_app_in_key_mode_registers_no_rail_unless_payouts_are_asked_for(world: World, tmp_path: Path) -> None:
    table = app_table(world, tmp_path, KEY_APP_ID, certificate_mode=False)
    pm = make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_payouts])
    assert collect_payout_rails(pm, {"alipay": table}) == []
    with pytest.raises(PluginError, match=r"'channels.alipay_payouts'.*needs certificate mode"):
        collect_payout_rails(pm, {"alipay": table, "alipay_payouts": {"verification_title": "账户验证"}})


def test_an_applicant_verifies_the_account_through_the_plugin(world: World, config: dict[str, Any],
                                                               tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/cashier.db", pool_size=2)
    migrate.upgrade(engine)
    rails = collect_payout_rails(make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_payouts]),
                                 config)
    try:
        service = OnboardingService(SqlUnitOfWorkFactory(engine), account_transfers(rails))
        # A personal account for an enterprise passes our own check only if its holder is the legal name, so
        # give the personal account under the legal name: Alipay's name check refuses it.
        personal = form(merchant_id=unique("tea")[:32].replace("_", "-"),
                        financial=FinancialInfo(PERSONAL_LOGON_ID, LEGAL_NAME))
        app = service.submit(APPLICANT, personal)
        with pytest.raises(FailedPrecondition, match="holder's name does not match the Alipay account"):
            service.start_verification(APPLICANT, app.id)
        assert service.get_application(app.id).application.account_state is AccountState.FAILED

        good = service.submit(APPLICANT, form(merchant_id=unique("tea")[:32].replace("_", "-")))
        service.add_document(APPLICANT, good.id, PNG)
        service.review(OPERATOR, good.id, Decision.APPROVE)
        attempt = service.start_verification(APPLICANT, good.id)
        [sent] = recorded(world, attempt.id)
        assert (sent["status"], sent["payee_identity"], sent["payee_name"]) == ("SUCCESS", LOGON_ID, LEGAL_NAME)
        received = int(sent["trans_amount"].replace(".", ""))  # what the applicant reads on the statement
        application, _ = service.confirm_verification(APPLICANT, good.id, received)
        assert application.account_state is AccountState.VERIFIED
        assert service.collection_refusal(good.form.merchant_id) is None
    finally:
        for r in rails:
            r.close()  # type: ignore[attr-defined]
        engine.dispose()
