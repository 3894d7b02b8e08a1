"""`cashier applications|merchants|audit …`: the operators' onboarding commands (gateway/cli_onboarding.py), run
in this process through click's CliRunner against a real database. Applications arrive as the management centre
submits them (OnboardingService on the same database); everything after that is the command line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway import cli_onboarding
from gateway.cli import main
from gateway.domain.onboarding.application import Kind
from gateway.service.onboarding import OnboardingService
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.onboarding_support import PNG, AlipayStandIn, form
from tests.unit.onboarding.conftest import APPLICANT

cli_onboarding.register(main)  # what gateway/cli.py does once wired; registering twice changes nothing


@pytest.fixture
def centre(database_url: str) -> Iterator[OnboardingService]:
    """The platform's management centre, submitting for applicants (over gRPC in production)."""
    engine = make_engine(database_url, pool_size=2)
    migrate.upgrade(engine)
    try:
        yield OnboardingService(SqlUnitOfWorkFactory(engine), AlipayStandIn())
    finally:
        engine.dispose()


class Ran:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = exit_code, stdout, stderr


def cashier(database_url: str, *args: str, check: bool = True, operator: str | None = "ops-lin") -> Ran:
    env = {"CASHIER_DATABASE_URL": database_url, "CASHIER_CONFIG": None, "CASHIER_OPERATOR": operator}
    result = CliRunner().invoke(main, list(args), env=env)
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    if check and ran.returncode != 0:
        raise AssertionError(f"cashier {' '.join(args)} failed ({ran.returncode}):\n{ran.stderr}{result.exception!r}")
    return ran


def test_an_operator_reviews_an_application_and_reads_its_document(database_url: str, centre: OnboardingService,
                                                                     tmp_path: Path) -> None:
    tea = centre.submit(APPLICANT, form())
    crafts = centre.submit(APPLICANT, form(Kind.INDIVIDUAL_WITH_BUSINESS, merchant_id="lin-crafts"))
    document = centre.add_document(APPLICANT, tea.id, PNG)

    listed = cashier(database_url, "applications", "list").stdout.splitlines()
    assert [line.split("\t")[:5] for line in listed] == [
        [crafts.id, "SUBMITTED", "account=UNVERIFIED", "INDIVIDUAL_WITH_BUSINESS", "lin-crafts"],
        [tea.id, "SUBMITTED", "account=UNVERIFIED", "ENTERPRISE", "tea-house"]]
    assert cashier(database_url, "applications", "list", "--kind", "enterprise").stdout.startswith(tea.id)
    assert cashier(database_url, "applications", "list", "--state", "approved").stdout == ""

    shown = cashier(database_url, "applications", "show", tea.id).stdout
    assert re.search(r"^state:\s+SUBMITTED$", shown, re.M)
    assert re.search(r"^credit code:\s+91350100M000100Y43$", shown, re.M)
    assert "finance@teahouse.example held by Fuzhou Tea House Co., Ltd." in shown
    assert f"{document.sha256}\timage/png\t{len(PNG)} bytes" in shown

    no_reason = cashier(database_url, "applications", "review", crafts.id, "reject", check=False)
    assert no_reason.returncode == 1 and "reason" in no_reason.stderr and "Traceback" not in no_reason.stderr
    sent_back = cashier(database_url, "applications", "review", crafts.id, "send-back", "--reason",
                        "the licence photo is blurred").stdout
    assert sent_back.strip() == f"application {crafts.id} SENT_BACK: the licence photo is blurred"
    approved = cashier(database_url, "applications", "review", tea.id, "approve").stdout.splitlines()
    assert approved == [f"application {tea.id} APPROVED",
                        "merchant tea-house created: APPROVED, collection disabled until the payout account is verified"]
    again = cashier(database_url, "applications", "review", tea.id, "reject", "--reason", "no", check=False)
    assert again.returncode == 1 and "APPROVED" in again.stderr

    assert cashier(database_url, "applications", "documents", tea.id).stdout.startswith(f"{document.sha256}\timage/png")
    saved = tmp_path / "licence.png"
    out = cashier(database_url, "applications", "documents", tea.id, document.sha256, "--output", str(saved)).stdout
    assert saved.read_bytes() == PNG and "saved to" in out
    kept = cashier(database_url, "applications", "documents", tea.id, document.sha256, "--output", str(saved),
                   check=False)
    assert kept.returncode == 1 and "never written over" in kept.stderr

    trail = cashier(database_url, "audit", "list", "--application", tea.id).stdout.splitlines()
    assert [line.split("\t")[2:4] for line in reversed(trail)] == [
        ["applicant:acct-1001 via mgmt-centre", "application.submitted"],
        ["applicant:acct-1001 via mgmt-centre", "document.added"],
        ["operator:ops-lin", "application.approved"],
        ["operator:ops-lin", "merchant.created"],
        ["operator:ops-lin", "document.read"]]
    merchant_trail = cashier(database_url, "audit", "list", "--merchant", "tea-house", "--changes").stdout
    assert "merchant.created" in merchant_trail and '"state": "APPROVED"' in merchant_trail


def test_plans_and_deposits_from_the_command_line(database_url: str, centre: OnboardingService) -> None:
    tea = centre.submit(APPLICANT, form())
    centre.add_document(APPLICANT, tea.id, PNG)
    cashier(database_url, "applications", "review", tea.id, "approve")

    assert cashier(database_url, "merchants", "schedule", "tea-house").stdout.strip() == (
        "merchant tea-house: T15 in effect; deposit held 0.00 CNY of 20000.00 CNY required for T0")
    refused = cashier(database_url, "merchants", "set-plan", "tea-house", "t0", check=False)
    assert refused.returncode == 1 and "deposit" in refused.stderr and "Traceback" not in refused.stderr

    recorded = cashier(database_url, "merchants", "deposits", "record", "tea-house", "--amount", "2000000",
                       "--reference", "BANK-0001").stdout
    assert re.fullmatch(r"deposit dep_\w+ of 20000.00 CNY \(BANK-0001\) HELD for merchant tea-house\n", recorded)
    deposit_id = recorded.split()[1]
    assert cashier(database_url, "merchants", "deposits", "record", "tea-house", "--amount", "2000000",
                   "--reference", "BANK-0001").stdout == recorded  # idempotent on the reference
    bad = cashier(database_url, "merchants", "deposits", "record", "tea-house", "--amount", "0", "--reference",
                  "bank ref!", check=False)
    assert bad.returncode == 1 and "amount" in bad.stderr and "external_reference" in bad.stderr

    switched = cashier(database_url, "merchants", "set-plan", "tea-house", "t0").stdout
    assert re.fullmatch(r"merchant tea-house: T15 in effect, T0 from \d{4}-\d\d-\d\d; deposit held 20000.00 CNY "
                        r"of 20000.00 CNY required for T0\n", switched)
    listed = cashier(database_url, "merchants", "deposits", "list", "tea-house").stdout
    assert listed.startswith(f"{deposit_id}\tHELD\t20000.00 CNY\tBANK-0001\t")

    # T0 was not in effect yet (it starts the next settlement day): the switch is dropped, the money released.
    released = cashier(database_url, "merchants", "deposits", "release", "tea-house", deposit_id).stdout
    assert released.splitlines() == [
        f"deposit {deposit_id} RELEASED: released now",
        "merchant tea-house: T15 in effect; deposit held 0.00 CNY of 20000.00 CNY required for T0"]
    actions = [line.split("\t")[3] for line in cashier(database_url, "audit", "list", "--merchant",
                                                       "tea-house").stdout.splitlines()]
    assert actions[:3] == ["deposit.released", "merchant.settlement_plan_set", "deposit.recorded"]


def test_writing_commands_name_the_operator(database_url: str, centre: OnboardingService) -> None:
    tea = centre.submit(APPLICANT, form())
    missing = cashier(database_url, "applications", "review", tea.id, "approve", operator=None, check=False)
    assert missing.returncode == 2 and "--operator" in missing.stderr
    bad = cashier(database_url, "applications", "review", tea.id, "approve", operator="ops lin", check=False)
    assert bad.returncode == 2 and "--operator" in bad.stderr
    assert "SUBMITTED" in cashier(database_url, "applications", "show", tea.id).stdout  # nothing changed
    unknown = cashier(database_url, "applications", "show", "apl_01KB00000000000000000000XX", check=False)
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr


def test_a_config_file_after_the_command_is_honoured(tmp_path: Path) -> None:
    db = tmp_path / "from-config.db"
    config = tmp_path / "cashier.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n[settlement]\ndeposit_required = 500000\n')
    result = CliRunner().invoke(main, ["applications", "list", "--config", str(config)],
                                env={"CASHIER_DATABASE_URL": None, "CASHIER_CONFIG": None})
    assert result.exit_code == 0, result.output
    assert db.exists()  # the file's database, migrated
    result = CliRunner().invoke(main, ["merchants", "deposits", "list", "nobody", "--config", str(config)],
                                env={"CASHIER_DATABASE_URL": None, "CASHIER_CONFIG": None})
    assert result.exit_code == 1 and "merchant nobody does not exist" in result.stderr


def test_an_operator_lists_an_app_in_the_square_and_takes_it_out(database_url: str,
                                                                    centre: OnboardingService) -> None:
    cashier(database_url, "apps", "create", "shop-app", "--name", "Micro shop")
    refused = cashier(database_url, "apps", "square", "shop-app", check=False)
    assert refused.returncode != 0 and "description" in refused.stderr + refused.stdout
    assert centre.list_square()[0] == []
    listed = cashier(database_url, "apps", "square", "shop-app", "--description", "Open a shop in minutes")
    assert "listed in the application square" in listed.stdout
    assert [(a.app_id, a.description) for a in centre.list_square()[0]] == [("shop-app", "Open a shop in minutes")]
    cashier(database_url, "apps", "square", "shop-app", "--withdraw")
    assert centre.list_square()[0] == []
    trail = cashier(database_url, "audit", "list").stdout
    assert trail.count("app.square_listing_set") == 2 and "operator:ops-lin" in trail
