"""The `cashier` command as an operator and a newcomer use it."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from gateway.cli import main
from gateway.storage import migrate
from tests.support import cashier_cli


def test_apps_create_prints_the_key_once_and_stores_only_a_hash(database_url: str) -> None:
    cashier_cli("merchants", "create", "shop-1", "--name", "Tea", database_url=database_url)
    created = cashier_cli("apps", "create", "app-1", "--name", "Shop app", database_url=database_url)
    key = created.stdout.strip()
    assert key.startswith("ck_app_") and len(key) > 40
    assert "shown once" in created.stderr
    engine = create_engine(database_url)
    with engine.connect() as conn:
        dump = " ".join(str(v) for table in ("apps", "api_keys") for row in conn.execute(text(f"SELECT * FROM {table}"))
                        for v in row)
    engine.dispose()
    assert key not in dump and key[len("ck_app_"):] not in dump and key[:11] in dump
    cashier_cli("apps", "authorize", "app-1", "shop-1", database_url=database_url)
    listed = cashier_cli("apps", "list", database_url=database_url).stdout
    assert "app-1" in listed and "shop-1" in listed and key not in listed


def test_operator_mistakes_get_one_clear_line(database_url: str) -> None:
    cashier_cli("merchants", "create", "shop-1", "--name", "Tea", database_url=database_url)
    again = cashier_cli("merchants", "create", "shop-1", "--name", "Tea", database_url=database_url, check=False)
    assert again.returncode == 1
    assert "merchant shop-1 already exists" in again.stderr and "Traceback" not in again.stderr
    bad = cashier_cli("merchants", "create", "Shop 1", "--name", "", database_url=database_url, check=False)
    assert bad.returncode == 1 and "merchant_id" in bad.stderr and "display_name" in bad.stderr
    missing = cashier_cli("apps", "authorize", "nobody", "shop-1", database_url=database_url, check=False)
    assert missing.returncode == 1 and "app nobody does not exist" in missing.stderr


def test_merchant_review_state_is_shown(database_url: str) -> None:
    cashier_cli("merchants", "create", "shop-2", "--name", "Jade", "--state", "under_review",
                database_url=database_url)
    assert "UNDER_REVIEW\tcollection=off" in cashier_cli("merchants", "list", database_url=database_url).stdout
    cashier_cli("merchants", "update", "shop-2", "--state", "approved", database_url=database_url)
    assert "APPROVED\tcollection=on" in cashier_cli("merchants", "list", database_url=database_url).stdout


def test_migrate_reports_the_revision(database_url: str) -> None:
    first = cashier_cli("migrate", database_url=database_url).stdout
    head = migrate.head_revision()
    assert head is not None
    assert f"at revision {head} (was empty)" in first
    assert cashier_cli("migrate", database_url=database_url).stdout.strip() == f"database at revision {head}"


def test_channels_lists_plugins_with_versions(tmp_path: Path) -> None:
    out = cashier_cli("channels", database_url=f"sqlite:///{tmp_path}/c.db").stdout
    assert "test_channels\tcashier-test-channels 0.0.1\thooks: cashier_register_channels" in out
    assert "mobile\tunified-cashier" in out


def test_a_malformed_config_file_stops_with_the_key_named(tmp_path: Path) -> None:
    config = tmp_path / "cashier.toml"
    config.write_text('[server]\nworkers = "many"\n[routing]\nrules = [{name = "x", pin = 3}]\n')
    result = cashier_cli("--config", str(config), "serve", database_url=f"sqlite:///{tmp_path}/c.db", check=False)
    assert result.returncode == 1
    assert "server.workers" in result.stderr and "routing.rules.0.pin" in result.stderr
    config.write_text("[server\n")
    result = cashier_cli("--config", str(config), "serve", database_url=f"sqlite:///{tmp_path}/c.db", check=False)
    assert result.returncode == 1 and "line 1" in result.stderr


def test_demo_walks_through_and_exits(tmp_path: Path) -> None:
    result = cashier_cli("demo", "--exit", "--dir", str(tmp_path / "demo"), "--grpc", "127.0.0.1:0",
                         "--http", "127.0.0.1:0", database_url="unused://", check=False,
                         # What a newcomer has installed: the channels, and the payout rail onboarding verifies with.
                         extra_env={"CASHIER_LOAD_CHANNELS": "mobile,pc,shared_link,alipay_payouts"})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # Both merchants are onboarded over MerchantService, their accounts verified through the sandbox.
    for merchant in ("tea-house", "lin-pottery"):
        for expected in (f"ReviewApplication APPROVE → merchants/{merchant} exists",
                         f"{merchant}: AuthorizeApp apps/shop-app-1",
                         f"{merchant}: the app's CreatePayment"):
            assert expected in out, f"missing {expected!r} in:\n{out}"
    assert out.count("ConfirmAccountVerification → ACCOUNT_VERIFICATION_STATE_VERIFIED: collection enabled") == 2
    # Each applicant types the amount the account received: 0.10 to 0.99 CNY, read from the sandbox's statement.
    typed = re.findall(r"sees 0\.(\d\d) CNY arrive in the Alipay app and types (\d+)", out)
    assert len(typed) == 2 and all(int(yuan_cents) == int(fen) >= 10 for yuan_cents, fen in typed), typed
    assert out.count("→ PAYMENT_STATE_PENDING via mobile, buyer action app_pay") == 2
    for expected in ("health: SERVING", "cashier.v1.CashierService", "channel mobile",
                     "the Alipay sandbox verified the signature",
                     "WatchPayment streamed PAYMENT_STATE_PENDING → PAYMENT_STATE_SUCCEEDED", "same answer as the first call: True",
                     "currency_code: 'USD' is not accepted", "closing an unpaid one: PAYMENT_STATE_CLOSED", "is SUCCEEDED and can no longer be closed",
                     'cashier_rpc_calls_total{code="OK",method="CreatePayment"} 8.0', "Demo finished"):
        assert expected in out, f"missing {expected!r} in:\n{out}"
    _demo_settled_the_day(out, tmp_path / "demo" / "cashier.db")


def _demo_settled_the_day(out: str, db: Path) -> None:
    """Steps 17-19: tea-house's 25.90 CNY payment at 0.60 % pays round_half_up(2590 × 60 / 10000) = 16 fen of
    fee; its 5.90 refund gives round_half_up(16 × 590 / 2590) = 4 fen of it back: 2590 − 16 − 590 + 4 = 1988 fen
    owed, pending until the run for the day it is due pays it through the sandbox's transfer."""
    assert "GetBalance: pending 19.88, available 0.00, deposit 0.00, in transit 0.00: 19.88 CNY owed in all" in out
    for kind, change in (("payment", "25.90"), ("fee", "-0.16"), ("refund", "-5.90"), ("fee returned", "0.04")):
        assert re.search(rf"^   {kind} +(pay|ref)_\w+  pending +{re.escape(change)}$", out, re.M), (kind, out)
    dates = re.search(r"SETTLEMENT_PLAN_T15 \(GetSettlementSchedule\): the money taken on (\S+) is due in the run "
                      r"for (\S+)\.", out)
    assert dates, out
    taken, due = date.fromisoformat(dates[1]), date.fromisoformat(dates[2])
    assert due - taken == timedelta(days=15)  # T+15 in calendar days: the plan in effect on the day taken
    assert "released 19.88 CNY from pending to available (ledger entries: 1)" in out
    paid = re.search(r"^tea-house: payout (po_\w+) of 19\.88 CNY in 1 transfer\(s\) → PAID\n"
                     r"   Alipay's transfer order (\d{16,}): 19\.88 CNY to finance@teahouse\.example "
                     r"\(\"Fuzhou Lin's Tea House Co\., Ltd\.\"\), SUCCESS$", out, re.M)
    assert paid, out
    payout_id, order_id = paid[1], paid[2]
    # What the run booked, in the demo's database: the payout PAID for the due date, its one part carrying the
    # order id Alipay answered the transfer with.
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        payout = conn.execute(text("SELECT merchant_id, run_date, amount, state FROM payouts WHERE payout_id = :p"),
                              {"p": payout_id}).one()
        parts = conn.execute(text("SELECT amount, state, rail_reference FROM payout_parts WHERE payout_id = :p"),
                             {"p": payout_id}).all()
    engine.dispose()
    assert tuple(payout) == ("tea-house", due.isoformat(), 1988, "PAID")
    assert [tuple(p) for p in parts] == [(1988, "PAID", order_id)]
    after = out[out.index("── 19."):]
    assert "GetBalance: pending 0.00, available 0.00, deposit 0.00, in transit 0.00: 0.00 CNY owed in all" in after
    assert (f"ListPayouts: merchants/tea-house/payouts/{payout_id}  run {due.isoformat()}  19.88 CNY  "
            "PAYOUT_STATE_PAID, 1 part(s)") in after
    assert f"statement of tea-house, {taken.isoformat()} to {due.isoformat()} (CNY):" in after
    # Each row: pending, available, deposit, in transit, total; the closing is the opening plus every movement.
    rows = {m[1]: m[2].split() for m in re.finditer(r"^   ([a-z ]+?(?: \(\d+\))?) {2,}(-?\d+\.\d\d(?: +-?\d+\.\d\d){4})$",
                                                     after, re.M)}
    assert rows == {
        "opening": ["0.00", "0.00", "0.00", "0.00", "0.00"],
        "payment (1)": ["25.90", "0.00", "0.00", "0.00", "25.90"],
        "fee (1)": ["-0.16", "0.00", "0.00", "0.00", "-0.16"],
        "refund (1)": ["-5.90", "0.00", "0.00", "0.00", "-5.90"],
        "fee returned (1)": ["0.04", "0.00", "0.00", "0.00", "0.04"],
        "funds released (1)": ["-19.88", "19.88", "0.00", "0.00", "0.00"],
        "payout sent (1)": ["0.00", "-19.88", "0.00", "19.88", "0.00"],
        "payout confirmed (1)": ["0.00", "0.00", "0.00", "-19.88", "-19.88"],
        "closing": ["0.00", "0.00", "0.00", "0.00", "0.00"],
    }, after


def test_a_rule_naming_an_unknown_channel_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "cashier.toml"
    config.write_text('[[routing.rules]]\nname = "only-wechat"\npin = "wechat_pay"\n')
    result = cashier_cli("--config", str(config), "serve", database_url=f"sqlite:///{tmp_path}/c.db", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "routing rule 'only-wechat' names channels that are not installed: wechat_pay" in result.stderr


def run_in_process(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """`cashier ARGS` through click's CliRunner, with neither CASHIER_DATABASE_URL nor CASHIER_CONFIG set
    unless given: what the configuration file says is what counts."""
    return CliRunner().invoke(main, list(args), env={"CASHIER_DATABASE_URL": None, "CASHIER_CONFIG": None,
                                                     **(env or {})})


@pytest.mark.parametrize("placement", ["before the command", "after the command"])
def test_config_is_honoured_before_or_after_the_command(tmp_path: Path, placement: str) -> None:
    db = tmp_path / "from-config.db"
    config = tmp_path / "cashier.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n[auth]\ncache_seconds = 7\n')

    def cashier(*command: str) -> Result:
        where = ["--config", str(config)]
        args = [*where, *command] if placement == "before the command" else [*command, *where]
        result = run_in_process(*args)
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result

    assert "database at revision" in cashier("migrate").stdout and db.exists()  # the file's database
    key = cashier("apps", "create", "app-1", "--name", "Shop app").stdout.strip()
    assert cashier("apps", "list").stdout.startswith(f"app-1\t{key[:11]}… live")
    revoked = cashier("apps", "revoke-key", "app-1", key[:11]).stdout
    assert "refused everywhere within 7s" in revoked  # [auth] cache_seconds from the file (default 1)
    # The variable keeps working, and a --config after the command overrides it.
    assert run_in_process("apps", "list", env={"CASHIER_CONFIG": str(config)}).stdout.startswith("app-1\t")
    elsewhere = tmp_path / "other.toml"
    elsewhere.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/other.db"\n')
    assert run_in_process("apps", "list", "--config", str(config),
                          env={"CASHIER_CONFIG": str(elsewhere)}).stdout.startswith("app-1\t")


@pytest.mark.parametrize("args", [
    ["--config", "{config}", "serve"], ["serve", "--config", "{config}"],
    ["--config", "{config}", "apps", "list"], ["apps", "list", "--config", "{config}"],
])
def test_a_config_file_given_after_the_command_is_read_and_checked(tmp_path: Path, args: list[str]) -> None:
    config = tmp_path / "cashier.toml"
    config.write_text('[server]\nworkers = "many"\n')
    result = run_in_process(*(a.format(config=config) for a in args))
    assert result.exit_code == 1 and "server.workers" in result.stderr and "Traceback" not in result.stderr

    missing = tmp_path / "no-such.toml"
    result = run_in_process(*(a.format(config=missing) for a in args))
    assert result.exit_code == 2 and f"File '{missing}' does not exist" in result.stderr


def test_two_different_config_files_are_refused(tmp_path: Path) -> None:
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text("")
    two.write_text("")
    result = run_in_process("--config", str(one), "migrate", "--config", str(two))
    assert result.exit_code == 2 and f"--config given twice ({one} and {two})" in result.stderr
