"""The live settlement world for tests/settlement/test_settlement_live_machine.py: the Alipay sandbox in
certificate mode (real HTTP, real RSA, one per module), and per example a fresh database (SQLite file or
PostgreSQL schema) under a gateway bootstrapped as `cashier serve` bootstraps it, whose services run on a
simulated clock so that a sequence can cross T+15 in a few steps. Every operation goes through the product's
service layer (payments paid by the sandbox's signed notification, refunds and plans through their services,
runs through the function `cashier settle run` calls); the database is only read here."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, text

import channels.alipay_payouts
from channels.alipay.sandbox.local import LocalAlipay, start_local_alipay
from channels.alipay.sandbox.values import beijing_now
from channels.contract import PayoutRail
from channels.contract.protocol import NotificationReceiver
from channels.contract.statements import StatementKind
from gateway.bootstrap import Gateway, bootstrap
from gateway.domain.merchants import Principal, PrincipalKind
from gateway.domain.onboarding.application import Decision, FinancialInfo
from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.domain.payments import ClientInfo, NewPayment, Platform, Scenario
from gateway.plugins import collect_payout_rails, make_plugin_manager
from gateway.storage.tables import ledger_entries, ledger_postings, payout_parts, payouts
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain.calendar import CHINA, settlement_day
from settlement.domain.reconciliation import Report
from settlement.service.reconcile import reconcile
from settlement.service.run import RunReport, run
from tests.e2e.alipay_world import World
from tests.onboarding_support import CREDIT_CODE, OTHER_CREDIT_CODE, PNG, form
from tests.support import make_settings, postgres_schema_url

TRANSFER = "alipay.fund.trans.uni.transfer"
FEE_BPS = 60
ALIPAY_FEE_BPS = 60  # the sandbox's service_fee_bps (its default): the rate [settlement.reconcile] expects
DEPOSIT_REQUIRED = 50_000  # small, so that sequences reach T+0, spend deposits and drop back
MAX_TRANSFER = 40_000  # small, so that payouts are split into parts
OPERATOR = Actor(ActorKind.OPERATOR, "ops-machine")
APPLICANT = Actor(ActorKind.APPLICANT, "acct-1001", via="mgmt-centre")
LEGAL_NAME = "Fuzhou Tea House Co., Ltd."  # tests/onboarding_support.form's
PAYOUT_LOGON_ID = "finance@teahouse.example"
# The sandbox holds its notifications back: the machine hands each signed body to the notification path itself.
HOLD_NOTIFICATIONS = {"delay_notifications": 86_400}

# What the sandbox is told for one run (alipay-protocol §9): pay, refuse the payee, answer too late or with a
# system error (UNKNOWN, settled by the next run's query), or refuse for the platform's own quota or balance.
FAULTS: dict[str, dict[str, Any]] = {
    "succeed": {},
    "refuse": {"system_error": {"method": TRANSFER, "code": "40004", "sub_code": "PAYEE_USER_INFO_ERROR",
                                "sub_msg": "收款方信息有误", "count": -1}},
    "system_error": {"system_error": {"method": TRANSFER, "code": "20000", "count": -1}},
    "timeout": {"timeout": {"method": TRANSFER, "count": -1, "seconds": 0.6}},
    "EXCEED_LIMIT_DM_AMOUNT": {"transfer_refusal": {"sub_code": "EXCEED_LIMIT_DM_AMOUNT", "count": -1}},
    "EXCEED_LIMIT_SM_AMOUNT": {"transfer_refusal": {"sub_code": "EXCEED_LIMIT_SM_AMOUNT", "count": -1}},
    "PAYER_BALANCE_NOT_ENOUGH": {"transfer_refusal": {"sub_code": "PAYER_BALANCE_NOT_ENOUGH", "count": -1}},
}


class SimClock:
    """The services' clock: starts now, moves forward a tick per reading (so that every change has its own
    time, as on a real host) and jumps to the next settlement day when a run is due."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        self.at += timedelta(milliseconds=1)
        return self.at

    @property
    def today(self) -> date:
        return settlement_day(self.at)

    def to_day(self, day: date, minutes: int = 5) -> None:
        """To `day`, `minutes` after midnight China time (the default cut-off), never backwards."""
        start = datetime(day.year, day.month, day.day, tzinfo=CHINA) + timedelta(minutes=minutes)
        self.at = max(self.at, start.astimezone(UTC))


@dataclass
class LiveAlipay:
    """The sandbox (certificate mode: payments and transfers) and the payout rail `cashier settle run` builds
    from the same `[channels.alipay]` table, with a short read timeout so that a held answer is UNKNOWN."""

    local: LocalAlipay
    world: World
    rail: PayoutRail

    @classmethod
    @contextmanager
    def start(cls, key_dir: Path) -> Iterator[LiveAlipay]:
        local = start_local_alipay(key_dir, time_scale=0.0005, certificate_mode=True)
        world = World(local.handle)
        world.admin.post("/sandbox/accounts", json={"logon_id": PAYOUT_LOGON_ID, "name": LEGAL_NAME}).raise_for_status()
        pm = make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_payouts])
        rail = collect_payout_rails(pm, {"alipay": {**local.channel_table, "read_timeout": 0.3}})[0]
        try:
            yield cls(local, world, rail)
        finally:
            rail.close()  # type: ignore[attr-defined]
            world.admin.close()
            local.stop()

    def reset(self) -> None:
        """A fresh Alipay for an example: no trades, transfers, notifications or faults (apps, accounts stay)."""
        self.world.admin.post("/sandbox/reset").raise_for_status()
        self.world.faults(**HOLD_NOTIFICATIONS)

    def set_faults(self, mode: str) -> None:
        self.world.reset_faults()
        self.world.faults(**HOLD_NOTIFICATIONS, **FAULTS[mode])

    def transfers(self) -> list[dict[str, Any]]:
        """Alipay's own record of transfers: out_biz_no, fen, status."""
        return [{"out_biz_no": t["out_biz_no"], "fen": int(Decimal(t["trans_amount"]) * 100), "status": t["status"]}
                for t in self.world.admin.get("/sandbox/transfers").json()["transfers"]]

    def pay(self, order_string: str) -> None:
        answer = self.world.admin.post("/sandbox/app-pay", json={"order_string": order_string, "pay": True})
        assert answer.status_code == 200, answer.text

    def notification_body(self, out_trade_no: str) -> bytes:
        """The trade's notification as Alipay sends it: its fields, signed by the sandbox's key."""
        [note] = self.world.notifications(out_trade_no)
        fields = dict(note["fields"])
        fields["notify_time"] = datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        fields["sign"] = self.local.handle.sandbox.sign_v1(fields)
        return urlencode(fields).encode()


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = folder / f"cashier-{next(_files)}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    yield from postgres_schema_url()


_files = itertools.count()


@dataclass
class Shop:
    merchant_id: str
    logon_id: str


@dataclass
class LiveGateway:
    """One example's gateway: services over a fresh database, two merchants with verified payout accounts at
    the sandbox, and an app acting for both."""

    alipay: LiveAlipay
    gateway: Gateway
    clock: SimClock
    shops: list[Shop]
    principal: Principal
    serial: itertools.count = field(default_factory=itertools.count)

    @classmethod
    @contextmanager
    def open(cls, alipay: LiveAlipay, database_url: str, merchants: int = 2) -> Iterator[LiveGateway]:
        settings = make_settings(database_url, channels={"alipay": alipay.local.channel_table}, settlement={
            "fees": {"mobile": FEE_BPS}, "deposit_required": DEPOSIT_REQUIRED, "max_transfer": MAX_TRANSFER,
            "reconcile": {"alipay_fee_bps": ALIPAY_FEE_BPS}})
        previous = os.environ.get("CASHIER_LOAD_CHANNELS")
        os.environ["CASHIER_LOAD_CHANNELS"] = "mobile,alipay_payouts,alipay_statements"
        try:
            gateway = bootstrap(settings)
        finally:
            if previous is None:
                del os.environ["CASHIER_LOAD_CHANNELS"]
            else:
                os.environ["CASHIER_LOAD_CHANNELS"] = previous
        sandbox = alipay.local.handle.sandbox.config
        try:
            clock = SimClock()
            for service in (gateway.payments, gateway.refunds, gateway.onboarding, gateway.admin):
                service.clock = clock
            # Alipay's clock is the simulated one too, so that its bills put each trade, refund and transfer on
            # the day the gateway booked it; a day's bill exists once the day is over, as at Alipay.
            sandbox.clock = lambda: clock.at.astimezone(CHINA).replace(microsecond=0)
            sandbox.strict_bill_date = True
            app_id = "machine-app"
            gateway.admin.create_app(app_id, "Machine app")
            shops = [onboard(gateway, f"shop-{n}", code) for n, code in enumerate((CREDIT_CODE, OTHER_CREDIT_CODE))]
            for shop in shops:
                gateway.admin.authorize_app(app_id, shop.merchant_id)
            principal = Principal(PrincipalKind.APP, app_id, frozenset(s.merchant_id for s in shops))
            yield cls(alipay, gateway, clock, shops, principal)
        finally:
            sandbox.clock, sandbox.strict_bill_date = beijing_now, False
            gateway.close()

    @property
    def uow(self) -> SqlUnitOfWorkFactory:
        return self.gateway.payments.uow  # type: ignore[return-value]

    def new_payment(self, merchant_id: str, amount: int) -> NewPayment:
        return NewPayment(merchant_id=merchant_id, out_trade_no=f"order-{next(self.serial)}", amount=amount,
                          currency="CNY", subject="Oolong tea, 250 g",
                          client=ClientInfo(Platform.IOS_APP, "Platform", "9.2.0"),
                          scenario=Scenario.POST_PRODUCT_CARD)

    def notify(self, payment_id: str, body: bytes) -> Any:
        """What POST /notify/mobile/{merchant} does with a body: the channel verifies it, the service applies it."""
        channel = self.gateway.capable("mobile", NotificationReceiver)  # type: ignore[type-abstract]
        assert channel is not None
        note = channel.parse_notification(body, "application/x-www-form-urlencoded")
        payment = self.gateway.payments.get(self.principal, _merchant_of(self, payment_id), payment_id)
        return self.gateway.payments.confirm_from_channel("mobile", payment.merchant_id, note)

    def settle(self, run_date: date) -> RunReport:
        """The run `cashier settle run --date` makes: the configured rules and calendar, the rail of
        `[channels.alipay]`; the clock is the simulated one."""
        settlement = self.gateway.settings.settlement
        return run(self.uow, self.alipay.rail, run_date, settlement.payout_rules, now=self.clock,
                   calendar=settlement.calendar())

    def reconcile(self, day: date, kind: StatementKind) -> Report:
        """What `cashier reconcile statement --date` does: the day's bill of `kind` from Alipay (the sandbox's
        statement source), reconciled against the ledger, Alipay's fees and the unexplained booked."""
        return reconcile(self.uow, self.gateway.statement_sources[0], day, kind,  # type: ignore[arg-type]
                         self.gateway.settings.settlement.reconcile.options, now=self.clock)

    # --- reading what the product stored -------------------------------------------------------------------

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.gateway.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def entries(self) -> dict[tuple[str, str], tuple[str, date, dict[str, int]]]:
        """(kind, reference) → (merchant, settlement day, account → amount)."""
        with self.gateway.engine.connect() as conn:
            lines: dict[int, dict[str, int]] = {}
            for row in conn.execute(select(ledger_postings.c.entry_id, ledger_postings.c.account,
                                           ledger_postings.c.amount)):
                acc = lines.setdefault(row.entry_id, {})
                acc[row.account] = acc.get(row.account, 0) + int(row.amount)
            return {(row.kind, row.reference): (row.merchant_id, _day(row.settlement_day), lines.get(row.entry_id, {}))
                    for row in conn.execute(select(ledger_entries))}

    def payout_rows(self) -> tuple[list[Any], list[Any]]:
        with self.gateway.engine.connect() as conn:
            return (list(conn.execute(select(payouts))), list(conn.execute(select(payout_parts))))


def onboard(gateway: Gateway, merchant_id: str, credit_code: str) -> Shop:
    """A merchant as onboarding makes one: applied for, approved, its payout account verified by a real
    transfer at the sandbox whose amount the applicant reads back."""
    service = gateway.onboarding
    application = service.submit(APPLICANT, form(merchant_id=merchant_id, business__credit_code=credit_code,
                                                 financial=FinancialInfo(PAYOUT_LOGON_ID, LEGAL_NAME)))
    service.add_document(APPLICANT, application.id, PNG)
    service.review(OPERATOR, application.id, Decision.APPROVE)
    attempt = service.start_verification(APPLICANT, application.id)
    service.confirm_verification(APPLICANT, application.id, attempt.amount)
    return Shop(merchant_id, PAYOUT_LOGON_ID)


def _merchant_of(live: LiveGateway, payment_id: str) -> str:
    [(merchant_id,)] = live.query("SELECT merchant_id FROM payments WHERE payment_id = :p", p=payment_id)
    return str(merchant_id)


def _day(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])
