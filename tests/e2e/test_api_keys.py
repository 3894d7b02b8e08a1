"""Rolling and revoking API keys (`cashier apps roll-key`, `revoke-key`), over real gRPC, with the real
`cashier` command in another process, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import text

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from gateway.cli import main
from gateway.domain.merchants import PrincipalKind
from gateway.runtime import RunningGateway
from gateway.service.keys import hash_key
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from tests.support import (
    CashierClient,
    Tenant,
    cashier_cli,
    error_details,
    make_settings,
    running_gateway,
    seed_tenant,
)


@contextmanager
def gateway_with_cache(database_url: str, cache_seconds: float) -> Iterator[tuple[RunningGateway, grpc.Channel]]:
    with running_gateway(make_settings(database_url, auth={"cache_seconds": cache_seconds}),
                         housekeeping=False) as running, grpc.insecure_channel(running.grpc_target) as channel:
        yield running, channel


def list_payments(client: CashierClient, key: str) -> grpc.StatusCode:
    """The status a ListPayments call with `key` gets (OK or the error's code)."""
    try:
        client.stub.ListPayments(svc.ListPaymentsRequest(parent=client.tenant.parent), metadata=client.metadata(key=key))
    except grpc.RpcError as err:
        assert key not in (err.details() or ""), "an error echoed the key"
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            assert error_details(err)[1].reason == "INVALID_API_KEY"
        return err.code()
    return grpc.StatusCode.OK


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, database_url: str, check: bool = True) -> Ran:
    """The `cashier` command in this process (click's CliRunner): as the console script runs it, faster."""
    result = CliRunner().invoke(main, list(args), env={"CASHIER_DATABASE_URL": database_url, "CASHIER_CONFIG": None})
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    if check and ran.returncode != 0:
        raise AssertionError(f"cashier {' '.join(args)} failed ({ran.returncode}):\n{ran.stderr}{result.exception!r}")
    return ran


def roll(database_url: str, holder: str, *args: str, group: str = "apps") -> tuple[str, str]:
    """(new key, what the command told the operator on stderr)."""
    rolled = cli(group, "roll-key", holder, *args, database_url=database_url)
    return rolled.stdout.strip(), rolled.stderr


def test_a_rolled_key_and_the_old_one_both_work_during_the_grace(database_url: str) -> None:
    with gateway_with_cache(database_url, 0.5) as (running, channel):
        client = CashierClient(channel, seed_tenant(running.gateway))
        old = client.tenant.key
        assert list_payments(client, old) == grpc.StatusCode.OK
        new, told = roll(database_url, "app-1")  # the default grace: 24 hours
        assert new.startswith("ck_app_") and new != old and "shown once" in told
        assert f"{old[:11]}… " in told and "stays valid until" in told
        assert list_payments(client, new) == grpc.StatusCode.OK
        time.sleep(0.7)  # past the cache: the old key is looked up again, and is still live
        assert list_payments(client, old) == grpc.StatusCode.OK

        listed = cli("apps", "list", database_url=database_url).stdout
        assert f"{new[:11]}… live, {old[:11]}… live until " in listed
        assert old not in listed and new not in listed and old[11:] not in listed and new[11:] not in listed

        third = cli("apps", "roll-key", "app-1", database_url=database_url, check=False)
        assert third.returncode == 1 and third.stdout == "" and "Traceback" not in third.stderr
        assert "app app-1 already has 2 live keys" in third.stderr and "revoke one first" in third.stderr
        assert f"{old[:11]}…" in third.stderr and old not in third.stderr
        assert list_payments(client, old) == list_payments(client, new) == grpc.StatusCode.OK


def test_after_the_grace_the_old_key_is_refused_even_if_cached(database_url: str) -> None:
    # A 30-second cache, a 2-second grace: a key looked up during its grace is cached only until its expiry.
    # (One cached before the roll can outlive a grace shorter than the cache: see README, "API keys".)
    with gateway_with_cache(database_url, 30) as (running, channel):
        client = CashierClient(channel, seed_tenant(running.gateway))
        old = client.tenant.key
        new, told = roll(database_url, "app-1", "--grace", "2s")
        expiry = told.split("stays valid until ")[1].split()[0]
        assert list_payments(client, new) == grpc.StatusCode.OK
        assert list_payments(client, old) == grpc.StatusCode.OK  # cached from here on, until its expiry
        time.sleep(3)
        assert list_payments(client, old) == grpc.StatusCode.UNAUTHENTICATED, f"old key expired at {expiry}"
        assert list_payments(client, new) == grpc.StatusCode.OK
        keys = cli("apps", "keys", "app-1", database_url=database_url).stdout
        assert f"{old[:11]}…\texpired {expiry}" in keys and f"{new[:11]}…\tlive" in keys
        # With the old key gone, the app may roll again.
        newer, _ = roll(database_url, "app-1", "--grace", "0")
        assert list_payments(client, newer) == grpc.StatusCode.OK


def test_a_revoked_key_is_refused_within_the_cache_window(database_url: str) -> None:
    with gateway_with_cache(database_url, 0.5) as (running, channel):
        client = CashierClient(channel, seed_tenant(running.gateway))
        old = client.tenant.key
        new, _ = roll(database_url, "app-1")
        assert list_payments(client, new) == grpc.StatusCode.OK  # both cached in this process
        assert list_payments(client, old) == grpc.StatusCode.OK
        # Revoked from another process (the real console script), by the prefix `apps list` shows.
        revoked = cashier_cli("apps", "revoke-key", "app-1", new[:11] + "…", database_url=database_url)
        assert f"key {new[:11]}… (key_" in revoked.stdout and "revoked at" in revoked.stdout
        time.sleep(0.5 + 0.5)
        assert list_payments(client, new) == grpc.StatusCode.UNAUTHENTICATED
        assert list_payments(client, old) == grpc.StatusCode.OK  # the other key is untouched
        listed = cli("apps", "list", database_url=database_url).stdout
        assert f"{old[:11]}… live until" in listed and "(+1 revoked or expired" in listed
        assert "\trevoked " in cli("apps", "keys", "app-1", database_url=database_url).stdout

        # By key id, the last live key: the app is locked out, and told how to get a key again.
        key_id = next(line.split("\t")[0] for line in cli(
            "apps", "keys", "app-1", database_url=database_url).stdout.splitlines() if old[:11] in line)
        last = cli("apps", "revoke-key", "app-1", key_id, database_url=database_url)
        assert "has no live key now" in last.stderr and "roll-key app-1" in last.stderr
        time.sleep(0.5 + 0.5)
        assert list_payments(client, old) == grpc.StatusCode.UNAUTHENTICATED

        unknown = cli("apps", "revoke-key", "app-1", "ck_app_zzzz", database_url=database_url, check=False)
        assert unknown.returncode == 1 and "app app-1 has no unrevoked key 'ck_app_zzzz'" in unknown.stderr
        nobody = cli("apps", "revoke-key", "nobody", "ck_app_zzzz", database_url=database_url, check=False)
        assert nobody.returncode == 1 and "app nobody does not exist" in nobody.stderr
        fresh, _ = roll(database_url, "app-1")
        assert list_payments(client, fresh) == grpc.StatusCode.OK


def test_operator_keys_roll_and_revoke_the_same_way(database_url: str) -> None:
    with gateway_with_cache(database_url, 0.5) as (_, channel):
        old = cli("operators", "create", "ops-1", database_url=database_url).stdout.strip()
        operators = msvc_grpc.MerchantServiceStub(channel)

        def status(key: str) -> grpc.StatusCode:
            try:
                operators.ListMerchants(msvc.ListMerchantsRequest(), metadata=[("authorization", f"Bearer {key}")])
            except grpc.RpcError as err:
                return err.code()
            return grpc.StatusCode.OK

        assert status(old) == grpc.StatusCode.OK
        new, _ = roll(database_url, "ops-1", "--grace", "0", group="operators")
        assert new.startswith("ck_op_")
        time.sleep(0.5 + 0.5)
        assert status(old) == grpc.StatusCode.UNAUTHENTICATED and status(new) == grpc.StatusCode.OK
        cli("operators", "revoke-key", "ops-1", new[:10], database_url=database_url)
        time.sleep(0.5 + 0.5)
        assert status(new) == grpc.StatusCode.UNAUTHENTICATED


def test_bad_grace_is_refused_and_changes_nothing(database_url: str) -> None:
    cli("apps", "create", "app-1", "--name", "Shop app", database_url=database_url)
    before = cli("apps", "keys", "app-1", database_url=database_url).stdout
    for grace, expected in (("31d", "grace: between 0 and 30 days"), ("soon", "'soon' is not a duration")):
        bad = cli("apps", "roll-key", "app-1", "--grace", grace, database_url=database_url, check=False)
        assert bad.returncode != 0 and expected in bad.stderr and bad.stdout == ""
    assert cli("apps", "keys", "app-1", database_url=database_url).stdout == before


def test_the_migration_moves_existing_keys_and_back(database_url: str) -> None:
    """A database made before 0009 (API keys) keeps working with its keys; downgrading gives each app and
    operator its live key back, and locks out one whose keys were all revoked."""
    before = ScriptDirectory(str(migrate.MIGRATIONS)).get_revision("0009").down_revision
    app_key, op_key = "ck_app_" + "a" * 43, "ck_op_" + "b" * 43
    engine = make_engine(database_url, pool_size=1)
    try:
        migrate.upgrade(engine, str(before))
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO merchants VALUES ('shop-1', 'Tea', 'APPROVED', true, 'general', 'T15', "
                              ":at)"), {"at": "2026-01-01 00:00:00"})
            for app_id, key in (("app-1", app_key), ("app-2", "ck_app_" + "c" * 43)):
                conn.execute(text("INSERT INTO apps (app_id, display_name, key_hash, key_prefix, disabled, "
                                  "created_at) VALUES (:id, 'App', :hash, :prefix, false, :at)"),
                             {"id": app_id, "hash": hash_key(key), "prefix": key[:11], "at": "2026-01-01 00:00:00"})
            conn.execute(text("INSERT INTO app_merchants VALUES ('shop-1', 'app-1', :at)"), {"at": "2026-01-01"})
            conn.execute(text("INSERT INTO operators (operator_id, key_hash, created_at) VALUES ('ops-1', :hash, "
                              ":at)"), {"hash": hash_key(op_key), "at": "2026-01-01 00:00:00"})
        migrate.upgrade(engine)

        with gateway_with_cache(database_url, 0.5) as (running, channel):
            client = CashierClient(channel, Tenant("app-1", app_key, "shop-1"))
            assert list_payments(client, app_key) == grpc.StatusCode.OK
            operators = msvc_grpc.MerchantServiceStub(channel)
            operators.ListMerchants(msvc.ListMerchantsRequest(), metadata=[("authorization", f"Bearer {op_key}")])
            listed = cli("apps", "list", database_url=database_url).stdout
            assert f"app-1\t{app_key[:11]}… live\tshop-1" in listed
            keys = running.gateway.admin.list_keys
            assert [k.prefix for k in keys(PrincipalKind.OPERATOR, "ops-1")] == ["ck_op_"]
            app_2_key = keys(PrincipalKind.APP, "app-2")[0]
            running.gateway.admin.revoke_key(PrincipalKind.APP, "app-2", app_2_key.id)

        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), str(before))
        with engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT app_id, key_hash FROM apps")).all())
            assert stored["app-1"] == hash_key(app_key)
            assert stored["app-2"] == "revoked:app-2"  # matches no key: app-2 stays locked out
            assert conn.execute(text("SELECT key_hash FROM operators")).scalar() == hash_key(op_key)
            assert conn.execute(text("SELECT key_prefix FROM apps WHERE app_id = 'app-1'")).scalar() == app_key[:11]
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
