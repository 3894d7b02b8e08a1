"""The `cashier` command: serve, migrate, operate (merchants, apps, operators), list channels, demo."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from typing import Any

import click

from gateway.cli_onboarding import register as register_onboarding
from gateway.config import ConfigError, Settings, load_settings
from gateway.domain.errors import CashierError
from gateway.domain.merchants import MerchantState, PrincipalKind, SettlementPlan
from gateway.plugins import PluginError
from gateway.service.keys import DEFAULT_GRACE


class Context:
    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._admin: Any = None

    def settings(self, **overrides: Any) -> Settings:
        try:
            return load_settings(self.config_path, overrides=overrides)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    def admin(self) -> Any:
        """The operator use cases over the configured database (migrated first)."""
        if self._admin is None:
            from gateway.service.admin import AdminService
            from gateway.storage import migrate
            from gateway.storage.engine import make_engine
            from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory

            settings = self.settings()
            engine = make_engine(settings.database.url, pool_size=1)
            click.get_current_context().call_on_close(engine.dispose)  # also when run in-process (tests)
            migrate.upgrade(engine)
            self._admin = AdminService(SqlUnitOfWorkFactory(engine))
        return self._admin

    def webhooks(self) -> Any:
        """The webhook dispatcher's operator side (events, endpoints) over the configured database."""
        from gateway.service.webhooks import WebhookDispatcher
        from gateway.webhook_http import HttpWebhookSender
        from gateway.webhook_targets import TargetPolicy

        targets = TargetPolicy.from_settings(self.settings().webhooks)  # what set-webhook accepts
        return WebhookDispatcher(self.admin().uow, HttpWebhookSender(policy=targets), targets=targets)


    def flags(self) -> Any:
        from gateway.service.flags import FlagService

        return FlagService(self.admin().uow)

    def hooks(self) -> Any:
        """The lifecycle runner's operator side (hook runs) over the configured database."""
        from gateway.bootstrap import build_plugins
        from gateway.plugins import PluggyLifecycleHooks
        from gateway.service.lifecycle import LifecycleRunner

        settings = self.settings()
        return LifecycleRunner(self.admin().uow, PluggyLifecycleHooks(build_plugins(), settings.plugins.keys()),
                               settings.plugins)


pass_ctx = click.make_pass_decorator(Context)


CONFIG_HELP = "TOML configuration file (also CASHIER_CONFIG); accepted before or after the command."


def _config_after_command(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """`cashier serve --config F` means what `cashier --config F serve` means."""
    if value is None:
        return
    obj = ctx.find_object(Context)
    assert obj is not None, "main() puts the Context in place before any command's options are read"
    root = ctx.find_root()
    if (obj.config_path not in (None, value)
            and root.get_parameter_source("config_path") is click.core.ParameterSource.COMMANDLINE):
        raise click.UsageError(f"--config given twice ({obj.config_path} and {value}): give it once", ctx)
    obj.config_path = value


def _config_option() -> click.Option:
    return click.Option(["--config"], type=click.Path(exists=True, dir_okay=False), expose_value=False,
                        callback=_config_after_command, help=CONFIG_HELP)


class CashierGroup(click.Group):
    """Turns domain errors into one clear line and exit status 1, never a traceback. Every command added
    (and its subcommands: groups made under it are CashierGroups too) also accepts --config."""

    group_class = type

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any("--config" in p.opts for p in cmd.params if isinstance(p, click.Option)):
            cmd.params.append(_config_option())
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CashierError as exc:
            raise click.ClickException(exc.message) from None
        except (ConfigError, PluginError) as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=CashierGroup)
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), envvar="CASHIER_CONFIG",
              help=CONFIG_HELP)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Unified Cashier: one gRPC cashier for every trading app. The database comes from
    CASHIER_DATABASE_URL (default: sqlite:///cashier.db in the current folder)."""
    ctx.obj = Context(config_path)


@main.command()
@click.option("--grpc", "grpc_addr", help="gRPC HOST:PORT [127.0.0.1:50051].")
@click.option("--http", "http_addr", help="HTTP face HOST:PORT [127.0.0.1:8080].")
@click.option("--workers", type=int, help="Worker processes sharing the ports [1].")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate chain.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key.")
@click.option("--share-ports", is_flag=True, default=None,
              help="Start even if another server listens on these addresses, and share them with it "
                   "(e.g. a rolling restart) [refuse; [server] share_ports].")
@pass_ctx
def serve(obj: Context, grpc_addr: str | None, http_addr: str | None, workers: int | None,
          tls_cert: str | None, tls_key: str | None, share_ports: bool | None) -> None:
    """Run the gateway until SIGTERM or Ctrl-C (in-flight calls finish first)."""
    from gateway.supervisor import ServeRefused
    from gateway.supervisor import serve as run

    try:
        run(obj.settings(server={"grpc": grpc_addr, "http": http_addr, "workers": workers,
                                 "tls_cert": tls_cert, "tls_key": tls_key, "share_ports": share_ports}))
    except ServeRefused as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@pass_ctx
def migrate(obj: Context) -> None:
    """Apply the database migrations (serve also does this at start)."""
    from gateway.storage import migrate as migrations
    from gateway.storage.engine import make_engine

    settings = obj.settings()
    engine = make_engine(settings.database.url, pool_size=1)
    try:
        before = migrations.current_revision(engine)
        migrations.upgrade(engine)
        after = migrations.current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@main.group()
def recover() -> None:
    """Recover what lost notifications left open, now (`serve` also does this every [recovery] every_seconds)."""


def _run_job_once(settings: Settings, make: Any) -> dict[str, int]:
    """Run the job `make(gateway)` builds once (gateway/jobs.py), over a gateway bootstrapped for it."""
    from gateway.bootstrap import bootstrap
    from gateway.jobs import run_job

    gateway = bootstrap(settings)
    try:
        return dict(run_job(make(gateway)))
    finally:
        gateway.close()


@recover.command("payments")
@pass_ctx
def recover_payments(obj: Context) -> None:
    """Ask the channels about pending payments: paid ones become SUCCEEDED, expired ones are closed at the
    channel and here."""
    from gateway.bootstrap import recover_payments_job

    r = _run_job_once(obj.settings(), lambda gateway: recover_payments_job(gateway, max_batches=1000))
    click.echo(f"recovered payments: claimed {r['claimed']}, queried {r['queried']}, paid {r['paid']}, "
               f"closed {r['closed']}, still pending {r['pending']}, flagged {r['flagged']}")


@recover.command("refunds")
@pass_ctx
def recover_refunds(obj: Context) -> None:
    """Ask the channels about every PENDING refund (one whose answer was unknown) and record what they
    say; a refund the channel never saw is sent again under the same request number."""
    from gateway.bootstrap import recover_refunds_job

    r = _run_job_once(obj.settings(), lambda gateway: recover_refunds_job(gateway, min_age=timedelta(0)))
    click.echo(f"refunds: {r['succeeded']} succeeded, {r['failed']} failed, {r['pending']} still pending")


def _deprecated(old: str, new: str, command: click.Command) -> click.Command:
    """`old` runs `new` for one more release, saying so on stderr (scripts reading stdout are unaffected)."""

    @click.pass_context
    def run(ctx: click.Context) -> None:
        click.echo(f"warning: `cashier {old}` is deprecated and will be removed in the next release; "
                   f"use `cashier {new}`", err=True)
        ctx.invoke(command)

    return click.Command(old, callback=run, help=f"Deprecated: use `cashier {new}`.", hidden=True)


main.add_command(_deprecated("reconcile-pending", "recover payments", recover_payments))
main.add_command(_deprecated("reconcile-refunds", "recover refunds", recover_refunds))


# --- merchants ------------------------------------------------------------------------------------

STATES = [s.value.lower() for s in MerchantState]
PLANS = [p.value.lower() for p in SettlementPlan]


@main.group()
def merchants() -> None:
    """Merchants: register one directly (operators, tests), review, settlement plans and deposits."""


@merchants.command("create")
@click.argument("merchant_id")
@click.option("--name", "display_name", required=True, help="Display name shown to buyers.")
@click.option("--business", "business_category", default="general", show_default=True,
              help="Line of business; routing rules may depend on it.")
@click.option("--state", type=click.Choice(STATES), default="approved", show_default=True)
@click.option("--account-verified/--account-unverified", default=True, show_default=True,
              help="Whether the settlement account is verified.")
@click.option("--plan", type=click.Choice(PLANS), default="t15", show_default=True)
@pass_ctx
def merchants_create(obj: Context, merchant_id: str, display_name: str, business_category: str, state: str,
                     account_verified: bool, plan: str) -> None:
    """Register MERCHANT_ID (approved and able to collect, unless told otherwise)."""
    from gateway.service.admin import NewMerchant

    m = obj.admin().create_merchant(NewMerchant(
        merchant_id, display_name, business_category, MerchantState(state.upper()), account_verified,
        SettlementPlan(plan.upper())))
    click.echo(f"merchant {m.id} created: {m.state.value}, collection "
               f"{'enabled' if m.collection_enabled else 'disabled'}")


@merchants.command("update")
@click.argument("merchant_id")
@click.option("--state", type=click.Choice(STATES))
@click.option("--account-verified/--account-unverified", default=None)
@pass_ctx
def merchants_update(obj: Context, merchant_id: str, state: str | None, account_verified: bool | None) -> None:
    """Change a merchant's review state or account verification."""
    m = obj.admin().update_merchant(merchant_id, state=MerchantState(state.upper()) if state else None,
                                    settlement_account_verified=account_verified)
    click.echo(f"merchant {m.id}: {m.state.value}, collection {'enabled' if m.collection_enabled else 'disabled'}")


@merchants.command("list")
@pass_ctx
def merchants_list(obj: Context) -> None:
    """List merchants."""
    token = ""
    while True:
        page, token = obj.admin().list_merchants(100, token)
        for m in page:
            click.echo(f"{m.id}\t{m.state.value}\tcollection={'on' if m.collection_enabled else 'off'}\t"
                       f"{m.business_category}\t{m.display_name}")
        if not token:
            break


# --- apps and operators ----------------------------------------------------------------------------


@main.group()
def apps() -> None:
    """Trading apps and their API keys."""


@apps.command("create")
@click.argument("app_id")
@click.option("--name", "display_name", required=True)
@pass_ctx
def apps_create(obj: Context, app_id: str, display_name: str) -> None:
    """Create APP_ID and print its API key. The key is shown once; only its hash is stored."""
    issued = obj.admin().create_app(app_id, display_name)
    click.echo(f"app {issued.principal_id} created. API key (shown once, store it now):", err=True)
    click.echo(issued.key)


@apps.command("authorize")
@click.argument("app_id")
@click.argument("merchant_id")
@pass_ctx
def apps_authorize(obj: Context, app_id: str, merchant_id: str) -> None:
    """Let APP_ID act for MERCHANT_ID."""
    obj.admin().authorize_app(app_id, merchant_id)
    click.echo(f"app {app_id} may now act for merchant {merchant_id}")


@apps.command("deauthorize")
@click.argument("app_id")
@click.argument("merchant_id")
@pass_ctx
def apps_deauthorize(obj: Context, app_id: str, merchant_id: str) -> None:
    """Withdraw APP_ID's right to act for MERCHANT_ID."""
    removed = obj.admin().deauthorize_app(app_id, merchant_id)
    click.echo(f"app {app_id} {'no longer acts' if removed else 'did not act'} for merchant {merchant_id}")


@apps.command("list")
@pass_ctx
def apps_list(obj: Context) -> None:
    """List apps: id, live keys (prefixes and state, never the keys), merchants they act for, name."""
    from gateway.domain.ids import utcnow

    now = utcnow()
    for listing in obj.admin().list_apps():
        live = [k for k in listing.keys if k.live(now)]
        keys = ", ".join(f"{k.prefix}… {k.state(now)}" for k in live) or "no live key"
        retired = len(listing.keys) - len(live)
        if retired:
            keys += f" (+{retired} revoked or expired: `cashier apps keys {listing.app.id}`)"
        click.echo(f"{listing.app.id}\t{keys}\t{','.join(listing.merchant_ids) or '-'}\t{listing.app.display_name}")


@apps.command("set-webhook")
@click.argument("app_id")
@click.argument("url")
@pass_ctx
def apps_set_webhook(obj: Context, app_id: str, url: str) -> None:
    """Send APP_ID's events to URL, signed with a new secret printed once (it replaces any earlier one)."""
    secret = obj.webhooks().set_webhook(app_id, url)
    click.echo(f"app {app_id} receives its events at {url}. Signing secret (shown once, store it now):",
               err=True)
    click.echo(secret)


# --- events (the outbox) ---------------------------------------------------------------------------

EVENT_STATES = ["pending", "delivered", "parked"]


@main.group()
def events() -> None:
    """Events for the trading apps and their webhook deliveries."""


@events.command("list")
@click.option("--state", type=click.Choice(EVENT_STATES), help="Only events in this state.")
@click.option("--limit", type=int, default=100, show_default=True)
@pass_ctx
def events_list(obj: Context, state: str | None, limit: int) -> None:
    """List events, newest first: id, state, type, app, merchant, attempts, next attempt, last error."""
    from gateway.domain.events import EventState

    for e in obj.webhooks().list_events(EventState(state.upper()) if state else None, limit):
        next_at = e.next_attempt_at.isoformat(timespec="seconds") if e.next_attempt_at else "-"
        click.echo(f"{e.id}\t{e.state.value}\t{e.type}\t{e.app_id}\t{e.merchant_id}\t"
                   f"attempts={e.attempts}\t{next_at}\t{e.last_error or '-'}")


@events.command("redeliver")
@click.argument("event_id")
@pass_ctx
def events_redeliver(obj: Context, event_id: str) -> None:
    """Move a PARKED event back to PENDING: it is delivered again with a fresh round of retries."""
    event = obj.webhooks().redeliver(event_id)
    click.echo(f"event {event.id} is {event.state.value} again")


# --- lifecycle hooks and flags ------------------------------------------------------------------------

HOOK_STATES = ["pending", "done", "parked"]


@main.group()
def hooks() -> None:
    """Plugins' lifecycle hook calls (payment succeeded/closed, refund succeeded)."""


@hooks.command("list")
@click.option("--state", type=click.Choice(HOOK_STATES), help="Only runs in this state.")
@click.option("--limit", type=int, default=100, show_default=True)
@pass_ctx
def hooks_list(obj: Context, state: str | None, limit: int) -> None:
    """List hook runs, newest event first: event, plugin, hook, state, attempts, next attempt, last error."""
    from gateway.domain.hooks import HookRunState

    for r in obj.hooks().list_runs(HookRunState(state.upper()) if state else None, limit):
        click.echo(f"{r.event_id}\t{r.plugin}\t{r.hook}\t{r.state.value}\tattempts={r.attempts}\t"
                   f"{r.next_attempt_at.isoformat(timespec='seconds')}\t{r.last_error or '-'}")


@hooks.command("rerun")
@click.argument("event_id")
@click.argument("plugin")
@pass_ctx
def hooks_rerun(obj: Context, event_id: str, plugin: str) -> None:
    """Move a PARKED hook run back to PENDING: PLUGIN's hook is called again for EVENT_ID."""
    obj.hooks().rerun(event_id, plugin)
    click.echo(f"hook run for event {event_id} and plugin {plugin} is PENDING again")


@main.group()
def flags() -> None:
    """What an operator must look at: money that moved in a way the gateway would not apply silently."""


@flags.command("list")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved flags.")
@click.option("--limit", type=int, default=100, show_default=True)
@pass_ctx
def flags_list(obj: Context, include_resolved: bool, limit: int) -> None:
    """List open flags, newest first: id, kind, merchant, payment, channel, times seen, last seen, detail."""
    for f in obj.flags().list(include_resolved=include_resolved, limit=limit):
        status = "open" if f.open else f"resolved: {f.resolution}"
        click.echo(f"{f.id}\t{f.kind.value}\t{f.merchant_id}\t{f.payment_id or '-'}\t{f.channel}\t"
                   f"seen={f.occurrences}\t{f.last_seen_at.isoformat(timespec='seconds')}\t{f.detail}\t{status}")


@flags.command("resolve")
@click.argument("flag_id")
@click.option("--note", required=True, help="What was done, e.g. 'refunded the buyer, ticket 123'.")
@pass_ctx
def flags_resolve(obj: Context, flag_id: str, note: str) -> None:
    """Mark FLAG_ID resolved with a note of what was done (it reopens if the channel reports it again)."""
    flag = obj.flags().resolve(flag_id, note)
    click.echo(f"flag {flag.id} resolved")


@main.group()
def operators() -> None:
    """Operator credentials (MerchantService: the management centre and reviewers)."""


@operators.command("create")
@click.argument("operator_id")
@pass_ctx
def operators_create(obj: Context, operator_id: str) -> None:
    """Create OPERATOR_ID and print its key once."""
    issued = obj.admin().create_operator(operator_id)
    click.echo(f"operator {issued.principal_id} created. Key (shown once):", err=True)
    click.echo(issued.key)


# --- API keys of apps and operators: the same three commands under `apps` and `operators` ---------------

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


class Duration(click.ParamType):
    """24h, 30m, 90s, 7d, 1h30m, or 0."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip()
        match = _DURATION.fullmatch(text)
        if text == "0":
            return timedelta(0)
        if not text or match is None:
            self.fail(f"{value!r} is not a duration such as 24h, 30m, 90s, 7d or 0", param, ctx)
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _add_key_commands(group: click.Group, kind: PrincipalKind, holder: str) -> None:
    noun = holder.lower().replace("_id", "")

    @group.command("roll-key", help=f"""Issue a new key for {holder} and print it once. Its current key
        stays valid for --grace more (at most 30 days; 0 refuses it at once), then is refused.
        An {noun} holds at most two live keys: with two, revoke one first.""")
    @click.argument("principal_id", metavar=holder)
    @click.option("--grace", type=Duration(), default=f"{DEFAULT_GRACE // timedelta(hours=1)}h", show_default=True,
                  help="How long the current key stays valid.")
    @pass_ctx
    def roll_key(obj: Context, principal_id: str, grace: timedelta) -> None:
        issued = obj.admin().roll_key(kind, principal_id, grace)
        for old in issued.retiring:
            click.echo(f"{noun} {principal_id}: key {old.prefix}… ({old.id}) stays valid until "
                       f"{old.expires_at.isoformat(timespec='seconds') if old.expires_at else '-'}", err=True)
        click.echo(f"{noun} {principal_id}: new key {issued.key_id} (shown once, store it now):", err=True)
        click.echo(issued.key)

    @group.command("revoke-key", help=f"""Refuse one key of {holder} from now on (every gateway process
        refuses it within [auth] cache_seconds). KEY is its prefix as listed (e.g. ck_app_AbCd) or its id.""")
    @click.argument("principal_id", metavar=holder)
    @click.argument("key", metavar="KEY")
    @pass_ctx
    def revoke_key(obj: Context, principal_id: str, key: str) -> None:
        admin = obj.admin()
        revoked = admin.revoke_key(kind, principal_id, key)
        cache = obj.settings().auth.cache_seconds
        at = revoked.revoked_at.isoformat(timespec="seconds") if revoked.revoked_at else "-"
        click.echo(f"{noun} {principal_id}: key {revoked.prefix}… ({revoked.id}) revoked at {at}; refused "
                   f"everywhere within {cache:g}s")
        from gateway.domain.ids import utcnow

        if not any(k.live(utcnow()) for k in admin.list_keys(kind, principal_id)):
            click.echo(f"{noun} {principal_id} has no live key now: `cashier {group.name} roll-key "
                       f"{principal_id}` issues one", err=True)

    @group.command("keys", help=f"""List every key of {holder}, newest first: id, prefix, state, created
        (never the key itself).""")
    @click.argument("principal_id", metavar=holder)
    @pass_ctx
    def list_keys(obj: Context, principal_id: str) -> None:
        from gateway.domain.ids import utcnow

        now = utcnow()
        for k in obj.admin().list_keys(kind, principal_id):
            click.echo(f"{k.id}\t{k.prefix}…\t{k.state(now)}\tcreated {k.created_at.isoformat(timespec='seconds')}")


_add_key_commands(apps, PrincipalKind.APP, "APP_ID")
_add_key_commands(operators, PrincipalKind.OPERATOR, "OPERATOR_ID")


# --- channels, demo, sandbox ------------------------------------------------------------------------


@main.group("channels", invoke_without_command=True)
@click.pass_context
def channels_cmd(ctx: click.Context) -> None:
    """List the installed channel plugins: name, distribution, version, hooks, channels (`cashier channels`);
    channel authors' tools are its subcommands (`cashier channels new NAME`, from the conformance kit)."""
    if ctx.invoked_subcommand is None:
        obj = ctx.find_object(Context)
        assert obj is not None, "main() puts the Context in place"
        _list_channels(obj)


def _list_channels(obj: Context) -> None:
    from gateway.bootstrap import build_plugins
    from gateway.plugins import collect_channels_by_plugin, list_plugins

    settings = obj.settings()
    pm = build_plugins()
    by_plugin: dict[str, list[str]] = {}
    for channel, plugin in collect_channels_by_plugin(pm, settings.channels, settings.public_url):
        by_plugin.setdefault(plugin, []).append(channel.name)
    infos = list_plugins(pm)
    if not infos:
        click.echo("no channel plugins installed")
    for info in infos:
        click.echo(f"{info.name}\t{info.distribution} {info.version}\thooks: {', '.join(info.hooks)}\t"
                   f"channels: {', '.join(by_plugin.get(info.name, [])) or '-'}")


@main.command()
@click.option("--exit", "exit_after", is_flag=True, help="End after the walk-through (for scripts).")
@click.option("--dir", "workdir", type=click.Path(file_okay=False), default="var/demo", show_default=True,
              help="Where the demo keeps its SQLite database and generated test keys.")
@click.option("--grpc", "grpc_addr", default="127.0.0.1:50051", show_default=True)
@click.option("--http", "http_addr", default="127.0.0.1:8080", show_default=True)
def demo(exit_after: bool, workdir: str, grpc_addr: str, http_addr: str) -> None:
    """Start everything on embedded SQLite and walk through what the gateway does."""
    from gateway.demo import run_demo

    sys.exit(run_demo(workdir, exit_after=exit_after, grpc_address=grpc_addr, http_address=http_addr))


#: Commands other distributions add to `cashier` (the Alipay sandbox's `cashier sandbox` is one): the core
#: names no channel or sandbox, it loads whatever is registered in this entry-point group.
COMMAND_ENTRY_POINTS = "cashier.commands"


def _add_plugin_commands(group: click.Group) -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=COMMAND_ENTRY_POINTS):
        # "parent.child" adds `child` under the core's group `parent` (`channels.new`: `cashier channels new`).
        parent_name, _, name = ep.name.rpartition(".")
        parent = group.commands.get(parent_name) if parent_name else group
        if not isinstance(parent, click.Group) or name in parent.commands:
            continue  # the core's own commands win; a parent the core does not have is not made up
        try:
            command = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken add-on must not take `cashier serve` down with it
            click.echo(f"cashier: command {ep.name!r} ({ep.value}) failed to load and is left out: {exc}",
                       err=True)
            continue
        parent.add_command(command, name)


# The operators' onboarding commands (applications, plan and deposit changes, the audit trail).
register_onboarding(main)
_add_plugin_commands(main)
