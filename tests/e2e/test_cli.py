"""The `cashier` command as an operator and a newcomer use it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

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
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM apps")) for v in row)
    engine.dispose()
    assert key not in dump and key[len("ck_app_"):] not in dump
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
    assert head is not None and head >= "0008"
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
                         extra_env={"CASHIER_LOAD_CHANNELS": "mobile,pc,shared_link"})  # what a newcomer has installed
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for expected in ("health: SERVING", "cashier.v1.CashierService", "channel mobile",
                     "the Alipay sandbox verified the signature",
                     "WatchPayment streamed PAYMENT_STATE_PENDING → PAYMENT_STATE_SUCCEEDED", "same answer as the first call: True",
                     "currency_code: 'USD' is not accepted", "closing an unpaid one: PAYMENT_STATE_CLOSED", "is SUCCEEDED and can no longer be closed",
                     'cashier_rpc_calls_total{code="OK",method="CreatePayment"} 6.0', "Demo finished"):
        assert expected in out, f"missing {expected!r} in:\n{out}"


def test_a_rule_naming_an_unknown_channel_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "cashier.toml"
    config.write_text('[[routing.rules]]\nname = "only-wechat"\npin = "wechat_pay"\n')
    result = cashier_cli("--config", str(config), "serve", database_url=f"sqlite:///{tmp_path}/c.db", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "routing rule 'only-wechat' names channels that are not installed: wechat_pay" in result.stderr
