"""The `cashier` command: serve, migrate, operate (merchants, apps, operators), list channels, demo."""

from __future__ import annotations

import sys
from typing import Any

import click

from channels.manager import PluginError
from gateway.config import ConfigError, Settings, load_settings
from gateway.domain.errors import CashierError
from gateway.domain.merchants import MerchantState, SettlementPlan


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
            from gateway.storage.unit_of_work import SqlUnitOfWorkFactory

            settings = self.settings()
            engine = make_engine(settings.database.url, pool_size=1)
            migrate.upgrade(engine)
            self._admin = AdminService(SqlUnitOfWorkFactory(engine))
        return self._admin

    def webhooks(self) -> Any:
        """The webhook dispatcher's operator side (events, endpoints) over the configured database."""
        from gateway.service.webhooks import WebhookDispatcher
        from gateway.webhook_http import HttpWebhookSender

        return WebhookDispatcher(self.admin().uow, HttpWebhookSender())


    def flags(self) -> Any:
        from gateway.service.flags import FlagService

        return FlagService(self.admin().uow)

    def hooks(self) -> Any:
        """The lifecycle runner's operator side (hook runs) over the configured database."""
        from channels.manager import PluggyLifecycleHooks
        from gateway.bootstrap import build_plugins
        from gateway.service.lifecycle import LifecycleRunner

        settings = self.settings()
        return LifecycleRunner(self.admin().uow, PluggyLifecycleHooks(build_plugins(), settings.plugins.keys()),
                               settings.plugins)


pass_ctx = click.make_pass_decorator(Context)


class CashierGroup(click.Group):
    """Turns domain errors into one clear line and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CashierError as exc:
            raise click.ClickException(exc.message) from None
        except (ConfigError, PluginError) as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=CashierGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="CASHIER_CONFIG",
              help="TOML configuration file (also CASHIER_CONFIG).")
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
@pass_ctx
def serve(obj: Context, grpc_addr: str | None, http_addr: str | None, workers: int | None,
          tls_cert: str | None, tls_key: str | None) -> None:
    """Run the gateway until SIGTERM or Ctrl-C (in-flight calls finish first)."""
    from gateway.runtime import serve as run

    run(obj.settings(server={"grpc": grpc_addr, "http": http_addr, "workers": workers,
                             "tls_cert": tls_cert, "tls_key": tls_key}))


@main.command()
@pass_ctx
def migrate(obj: Context) -> None:
    """Apply the database migrations (serve also does this at start)."""
    from gateway.storage import migrate as migrations
    from gateway.storage.engine import make_engine

    settings = obj.settings()
    engine = make_engine(settings.database.url, pool_size=1)
    before = migrations.current_revision(engine)
    migrations.upgrade(engine)
    after = migrations.current_revision(engine)
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@main.command("reconcile-pending")
@pass_ctx
def reconcile_pending(obj: Context) -> None:
    """Ask the channels about pending payments now (`serve` also does this every [reconcile]
    every_seconds): paid ones become SUCCEEDED, expired ones are closed at the channel and here."""
    from gateway.bootstrap import bootstrap
    from gateway.runtime import make_reconciler

    gateway = bootstrap(obj.settings())
    try:
        report = make_reconciler(gateway).run_until_done()
    finally:
        gateway.close()
    click.echo(f"reconciled: {report.summary()}")


@main.command("reconcile-refunds")
@pass_ctx
def reconcile_refunds(obj: Context) -> None:
    """Ask the channels about every PENDING refund (one whose answer was unknown) and record what they
    say; a refund the channel never saw is sent again under the same request number."""
    from gateway.bootstrap import bootstrap

    gateway = bootstrap(obj.settings())
    try:
        summary = gateway.refunds.resolve_pending_refunds()
    finally:
        gateway.close()
    click.echo(f"refunds: {len(summary.succeeded)} succeeded, {len(summary.failed)} failed, "
               f"{len(summary.pending)} still pending")


# --- merchants ------------------------------------------------------------------------------------

STATES = [s.value.lower() for s in MerchantState]
PLANS = [p.value.lower() for p in SettlementPlan]


@main.group()
def merchants() -> None:
    """Register and review merchants (full onboarding arrives in its own release)."""


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
    """List apps (key prefixes only) and the merchants they act for."""
    for app, merchant_ids in obj.admin().list_apps():
        click.echo(f"{app.id}\t{app.key_prefix}…\t{','.join(merchant_ids) or '-'}\t{app.display_name}")


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
    """Operator credentials for OperatorService."""


@operators.command("create")
@click.argument("operator_id")
@pass_ctx
def operators_create(obj: Context, operator_id: str) -> None:
    """Create OPERATOR_ID and print its key once."""
    issued = obj.admin().create_operator(operator_id)
    click.echo(f"operator {issued.principal_id} created. Key (shown once):", err=True)
    click.echo(issued.key)


# --- channels, demo, sandbox ------------------------------------------------------------------------


@main.command("channels")
@pass_ctx
def channels_cmd(obj: Context) -> None:
    """List the installed channel plugins: name, distribution, version, hooks, channels."""
    from channels.manager import collect_channels_by_plugin, list_plugins
    from gateway.bootstrap import build_plugins

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


def _sandbox_command() -> click.Command:
    from channels.alipay.sandbox.cli import sandbox_command

    return sandbox_command


main.add_command(_sandbox_command(), "sandbox")
