"""The operators' onboarding commands (issue 17), added to `cashier` by gateway/cli.py with one line,
`register(main)`:

    cashier applications list|show|review|documents
    cashier merchants schedule|set-plan
    cashier merchants deposits list|record|release
    cashier audit list

Applicants submit through MerchantService (the platform's management centre); operators read, review, set
plans, record deposits and read the audit trail here. Every change is written with its audit row by
OnboardingService, under the operator named by --operator (or CASHIER_OPERATOR), so the trail says who did it.
Output follows `cashier`'s: one tab-separated line per row, a sentence per change, errors as one line.

The command objects are module-level; `register` adds them to the group it is given, so the `cashier` group's
class gives them --config and turns domain errors into one clear line (gateway/cli.py's CashierGroup).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from channels.contract.money import format_minor
from gateway.domain.merchants import SettlementPlan
from gateway.domain.onboarding.application import AccountState, Application, ApplicationState, Decision, Kind
from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.service.onboarding import OnboardingService

APPLICATION_STATES = [s.value.lower() for s in ApplicationState]
KINDS = [k.value.lower() for k in Kind]
DECISIONS = {"approve": Decision.APPROVE, "reject": Decision.REJECT, "send-back": Decision.SEND_BACK}
PLANS = {"t15": SettlementPlan.T15, "t0": SettlementPlan.T0}
_OPERATOR_ID = re.compile(r"[A-Za-z0-9_.@\-]{1,64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
PAGE = 100


def _context_object() -> Any:
    """The `cashier` command's context object (gateway/cli.py's Context): settings and the operator service."""
    return click.get_current_context().find_root().obj


def onboarding_service() -> OnboardingService:
    """OnboardingService over the configured database (migrated by the operator service first), configured
    from [onboarding] and [settlement]; made once per command line. No payout rail: operators never send the
    verification transfer (the management centre starts it over gRPC)."""
    root = click.get_current_context().find_root()
    service = root.meta.get("cashier.onboarding")
    if service is None:
        obj = _context_object()
        settings = obj.settings()
        service = OnboardingService(obj.admin().uow, None, individuals_open=settings.onboarding.individuals,
                                    deposit_required=settings.settlement.deposit_required,
                                    retention_days=settings.onboarding.retention_days)
        root.meta["cashier.onboarding"] = service
    return service


def _operator(value: str) -> Actor:
    if not _OPERATOR_ID.fullmatch(value):
        raise click.BadParameter("1-64 letters, digits, '_', '.', '@' or '-'", param_hint="--operator")
    return Actor(ActorKind.OPERATOR, value)


def operator_option(command: Any) -> Any:
    return click.option(
        "--operator", "operator_id", envvar="CASHIER_OPERATOR", required=True, metavar="OPERATOR_ID",
        help="Who is acting, as the audit trail records it (also CASHIER_OPERATOR).")(command)


def _when(at: Any) -> str:
    return at.isoformat(timespec="seconds") if at is not None else "-"


def _pages(fetch: Any) -> Iterator[Any]:
    """Every row of a paginated service call, `fetch(page_size, page_token)`."""
    token = ""
    while True:
        page, token = fetch(PAGE, token)
        yield from page
        if not token:
            return


# --- applications -----------------------------------------------------------------------------------


@click.group("applications")
def applications() -> None:
    """Merchant applications: read them, review them, read their documents."""


@applications.command("list")
@click.option("--state", type=click.Choice(APPLICATION_STATES), help="Only applications in this state.")
@click.option("--kind", type=click.Choice(KINDS), help="Only applicants of this verification kind.")
@click.option("--applicant", "applicant_account_id", default="", help="Only this applicant's platform account.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def applications_list(state: str | None, kind: str | None, applicant_account_id: str, limit: int) -> None:
    """List applications, newest first: id, state, account verification, kind, merchant id, applicant,
    submitted, display name."""
    service = onboarding_service()
    rows = _pages(lambda size, token: service.list_applications(
        state=ApplicationState(state.upper()) if state else None, kind=Kind(kind.upper()) if kind else None,
        applicant_account_id=applicant_account_id, page_size=size, page_token=token))
    for count, a in enumerate(rows, 1):
        click.echo(f"{a.id}\t{a.state.value}\taccount={a.account_state.value}\t{a.kind.value}\t{a.merchant_id}\t"
                   f"{a.form.basic.applicant_account_id}\t{_when(a.created_at)}\t{a.form.display_name}")
        if count >= limit:
            break


def _show(application: Application) -> list[tuple[str, str]]:
    f = application.form
    return [
        ("application", application.id), ("state", application.state.value),
        ("revision", str(application.revision)), ("submitted", _when(application.created_at)),
        ("updated", _when(application.updated_at)),
        ("decision", f"{application.decided_by or '-'} at {_when(application.decided_at)}: "
                     f"{application.decision_reason or '-'}" if application.decided_at else "-"),
        ("merchant", f.merchant_id), ("display name", f.display_name),
        ("applicant", f.basic.applicant_account_id), ("kind", f.basic.kind.value if f.basic.kind else "-"),
        ("contact", f"{f.basic.contact_name}, {f.basic.contact_phone}, {f.basic.contact_email}"),
        ("legal name", f.business.legal_name or "-"), ("credit code", f.business.credit_code or "-"),
        ("registered address", f.business.registered_address or "-"),
        ("business scope", f.business.business_scope or "-"),
        ("business category", f.business.business_category),
        ("payout account", f"{f.financial.payout_logon_id} held by {f.financial.holder_name}"),
        ("account verification", application.account_state.value
         + (f" at {_when(application.account_verified_at)}" if application.account_state is AccountState.VERIFIED
            else "")),
    ]


@applications.command("show")
@click.argument("application_id")
def applications_show(application_id: str) -> None:
    """Show APPLICATION_ID: what the applicant gave (personal data included: operators only), its review,
    the account verification and its documents."""
    view = onboarding_service().get_application(application_id)
    width = max(len(label) for label, _ in _show(view.application))
    for label, value in _show(view.application):
        click.echo(f"{label + ':':<{width + 1}} {value}")
    for d in view.documents:
        click.echo(f"{'document:':<{width + 1}} {d.sha256}\t{d.type.value}\t{d.size} bytes\t{_when(d.created_at)}")
    if not view.documents:
        click.echo(f"{'documents:':<{width + 1}} none")


@applications.command("review")
@click.argument("application_id")
@click.argument("decision", type=click.Choice(sorted(DECISIONS)))
@click.option("--reason", default="", help="Why (required to reject or send back); the applicant sees it.")
@operator_option
def applications_review(application_id: str, decision: str, reason: str, operator_id: str) -> None:
    """Decide APPLICATION_ID: approve (the merchant is created), reject, or send-back for changes. Of
    concurrent reviews exactly one decides; the others are told the application was decided."""
    application, merchant = onboarding_service().review(_operator(operator_id), application_id,
                                                        DECISIONS[decision], reason)
    click.echo(f"application {application.id} {application.state.value}"
               + (f": {application.decision_reason}" if application.decision_reason else ""))
    if merchant is not None:
        collecting = "enabled" if merchant.collection_enabled else \
            "disabled until the payout account is verified"
        click.echo(f"merchant {merchant.id} created: {merchant.state.value}, collection {collecting}")


@applications.command("documents")
@click.argument("application_id")
@click.argument("sha256", required=False)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="With SHA256: the file to write the document to (never overwritten).")
@operator_option
def applications_documents(application_id: str, sha256: str | None, output: str | None, operator_id: str) -> None:
    """List APPLICATION_ID's documents (sha256, type, size, added), or save the one named SHA256 to --output.
    Saving reads the document's bytes, which the audit trail records under --operator."""
    service = onboarding_service()
    if sha256 is None:
        for d in service.get_application(application_id).documents:
            click.echo(f"{d.sha256}\t{d.type.value}\t{d.size}\t{_when(d.created_at)}")
        return
    if not _SHA256.fullmatch(sha256):
        raise click.BadParameter("64 lowercase hexadecimal digits, as listed", param_hint="SHA256")
    if output is None:
        raise click.UsageError("give --output FILE to save the document (its bytes are not printed)")
    target = Path(output)
    if target.exists():
        raise click.ClickException(f"{output} exists: the document is never written over a file")
    document = service.read_document(_operator(operator_id), application_id, sha256)
    assert document.content is not None
    with target.open("xb") as handle:  # "x": a file created meanwhile is not overwritten either
        handle.write(document.content)
    click.echo(f"document {sha256} ({document.type.value}, {document.size} bytes) saved to {output}")


# --- merchants: settlement plan and deposits ----------------------------------------------------------


def _schedule_line(schedule: Any) -> str:
    upcoming = (f", {schedule.next_plan.value} from {schedule.next_plan_on.isoformat()}"
                if schedule.next_plan is not None else "")
    return (f"merchant {schedule.merchant_id}: {schedule.plan.value} in effect{upcoming}; deposit held "
            f"{format_minor(schedule.deposit_held)} of {format_minor(schedule.deposit_required)} required for T0")


@click.command("schedule")
@click.argument("merchant_id")
def merchants_schedule(merchant_id: str) -> None:
    """Show MERCHANT_ID's settlement plan, a change waiting for the next settlement day, and its deposit."""
    click.echo(_schedule_line(onboarding_service().schedule(merchant_id)))


@click.command("set-plan")
@click.argument("merchant_id")
@click.argument("plan", type=click.Choice(sorted(PLANS)))
@operator_option
def merchants_set_plan(merchant_id: str, plan: str, operator_id: str) -> None:
    """Switch MERCHANT_ID to PLAN (t15, or t0 against the deposit) from the next settlement day."""
    schedule = onboarding_service().set_plan(_operator(operator_id), merchant_id, PLANS[plan])
    click.echo(_schedule_line(schedule))


@click.group("deposits")
def deposits() -> None:
    """Deposits held for merchants on T+0."""


@deposits.command("list")
@click.argument("merchant_id")
def deposits_list(merchant_id: str) -> None:
    """List MERCHANT_ID's deposits: id, state, amount, external reference, recorded, release day."""
    for d in onboarding_service().list_deposits(merchant_id):
        release = d.release_on.isoformat() if d.release_on else "-"
        click.echo(f"{d.id}\t{d.state.value}\t{format_minor(d.amount)}\t{d.external_reference}\t"
                   f"{_when(d.recorded_at)}\t{release}")


@deposits.command("record")
@click.argument("merchant_id")
@click.option("--amount", type=int, required=True, metavar="FEN",
              help="The amount received, in fen (2000000 = 20,000.00 CNY).")
@click.option("--reference", "external_reference", required=True,
              help="The reference of the money received (e.g. the bank transfer's); recording it again is harmless.")
@operator_option
def deposits_record(merchant_id: str, amount: int, external_reference: str, operator_id: str) -> None:
    """Record a deposit received for MERCHANT_ID; idempotent on --reference."""
    d = onboarding_service().record_deposit(_operator(operator_id), merchant_id, amount, external_reference)
    click.echo(f"deposit {d.id} of {format_minor(d.amount)} ({d.external_reference}) {d.state.value} "
               f"for merchant {merchant_id}")


@deposits.command("release")
@click.argument("merchant_id")
@click.argument("deposit_id")
@operator_option
def deposits_release(merchant_id: str, deposit_id: str, operator_id: str) -> None:
    """Release DEPOSIT_ID: at once if T+15 is in effect, else the merchant moves back to T+15 from the next
    settlement day and the deposit is released then."""
    d, schedule = onboarding_service().release_deposit(_operator(operator_id), merchant_id, deposit_id)
    when = "now" if d.release_on is None else f"on {d.release_on.isoformat()}"
    click.echo(f"deposit {d.id} {d.state.value}: released {when}")
    click.echo(_schedule_line(schedule))


# --- the audit trail ----------------------------------------------------------------------------------


@click.group("audit")
def audit() -> None:
    """The onboarding audit trail (read only)."""


@audit.command("list")
@click.option("--application", "application_id", default="", help="Only rows of this application.")
@click.option("--merchant", "merchant_id", default="", help="Only rows of this merchant.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--changes", is_flag=True, help="Also print each row's before and after (JSON).")
def audit_list(application_id: str, merchant_id: str, limit: int, changes: bool) -> None:
    """List audit rows, newest first: id, when, who (kind:id), action, subject."""
    service = onboarding_service()
    rows = _pages(lambda size, token: service.list_audit(application_id=application_id, merchant_id=merchant_id,
                                                         page_size=size, page_token=token))
    for count, e in enumerate(rows, 1):
        who = f"{e.actor.kind.value.lower()}:{e.actor.id}" + (f" via {e.actor.via}" if e.actor.via else "")
        click.echo(f"{e.id}\t{_when(e.at)}\t{who}\t{e.action}\t{e.subject}")
        if changes:
            click.echo(f"\tbefore {json.dumps(e.before, ensure_ascii=False, sort_keys=True)}")
            click.echo(f"\tafter  {json.dumps(e.after, ensure_ascii=False, sort_keys=True)}")
        if count >= limit:
            break


@click.command("square")
@click.argument("app_id")
@click.option("--description", default="", help="What merchants read about the app in the square (required to list).")
@click.option("--withdraw", is_flag=True, help="Take the app out of the square instead.")
@operator_option
def apps_square(app_id: str, description: str, withdraw: bool, operator_id: str) -> None:
    """List APP_ID in the application square, where approved merchants pick apps to authorise (ListApps), or
    take it out with --withdraw; audited under --operator."""
    onboarding_service().list_in_square(_operator(operator_id), app_id, not withdraw, description)
    click.echo(f"app {app_id} {'withdrawn from' if withdraw else 'listed in'} the application square")


MERCHANT_COMMANDS = (merchants_schedule, merchants_set_plan, deposits)
APP_COMMANDS = (apps_square,)


def _adopt(kind: type[click.Group], group: click.Group) -> click.Group:
    """`group` remade as a `kind` (the `cashier` group's class), subgroups too, so that every command gets what
    that class gives the commands added to it (--config after the command, among others)."""
    adopted = kind(group.name, help=group.help, short_help=group.short_help)
    for name, command in group.commands.items():
        adopted.add_command(_adopt(kind, command) if isinstance(command, click.Group) else command, name)
    return adopted


def register(main: click.Group) -> None:
    """Add the onboarding commands to `main` (the `cashier` group): `applications` and `audit`, and the plan
    and deposit commands under its `merchants` group (made if it has none). Calling it again changes nothing."""
    kind = type(main)
    main.add_command(_adopt(kind, applications))
    main.add_command(_adopt(kind, audit))
    merchants = main.commands.get("merchants")
    if not isinstance(merchants, click.Group):
        merchants = kind("merchants", help="Merchants: settlement plans and deposits.")
        main.add_command(merchants)
    for command in MERCHANT_COMMANDS:
        merchants.add_command(_adopt(kind, command) if isinstance(command, click.Group) else command)
    apps = main.commands.get("apps")
    if not isinstance(apps, click.Group):
        apps = kind("apps", help="Trading apps: the application square.")
        main.add_command(apps)
    for command in APP_COMMANDS:
        apps.add_command(command)
