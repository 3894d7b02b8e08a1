"""Configuration: a TOML file (`--config`), overridden by environment variables for deployment secrets
and addresses. Every mistake is reported with its key path, all at once, before anything starts."""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Collection
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.domain.errors import InvalidArgument
from gateway.domain.payments import Platform, Scenario
from settlement.domain.calendar import (
    MAX_HOLIDAY_FILE_BYTES,
    Calendar,
    DayCount,
    HolidayYear,
    WorkingDays,
    parse_cutoff,
    parse_holiday_file,
)
from settlement.domain.fees import MAX_BPS, MAX_CHANNELS, FeeSchedule, RefundFeePolicy
from settlement.domain.payouts import (
    ALIPAY_MAX_TRANSFER,
    ALIPAY_MIN_TRANSFER,
    MAX_PAYOUT_CONCURRENCY,
    PayoutRules,
)
from settlement.domain.reconciliation import MAX_WINDOW
from settlement.domain.reconciliation import Options as ReconcileOptions


class ConfigError(ValueError):
    pass


_log = logging.getLogger("cashier.config")
DEPRECATED_RECOVERY_KEY = "reconcile"
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
RECOVERY_KEY_DEPRECATED = ("configuration: [reconcile] is deprecated and will be refused in the next release; "
                           "rename it [recovery] (same keys)")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    grpc: str = "127.0.0.1:50051"
    http: str = "127.0.0.1:8080"
    workers: int = Field(1, ge=1, le=64)
    # `cashier serve` refuses an address another server already listens on, unless this is true: then
    # it listens beside it (SO_REUSEPORT), e.g. for a rolling restart.
    share_ports: bool = False
    threads: int = Field(16, ge=1, le=512)
    grace_seconds: float = Field(10.0, ge=0)
    tls_cert: str = ""
    tls_key: str = ""
    # The address buyers and channels reach the HTTP face at; defaults to http://<http>.
    public_url: str = ""
    # The HTTP face's bounds, per worker (gateway/web/server.py): a request's headers must be complete within
    # http_header_timeout_seconds of the connection's opening (or of the previous answer), its body within
    # http_body_timeout_seconds after them; an idle keep-alive connection is closed after
    # http_keepalive_seconds; at most http_max_connections are open at once (lowered to fit the open-file limit).
    http_header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    http_body_timeout_seconds: float = Field(30.0, gt=0, le=600)
    http_keepalive_seconds: float = Field(5.0, gt=0, le=300)
    http_max_connections: int = Field(1000, ge=1, le=1_000_000)
    # The gRPC face's bounds, per worker (gateway/api/server.py): connections open at once (lowered to fit
    # the open-file limit), seconds a new connection has to complete its HTTP/2 handshake, seconds a
    # connection with no call in progress is kept, a connection's lifetime (its calls then get
    # watch_max_seconds + 30 s to finish), streams per connection, calls in progress or queued (unset: four
    # times `threads`; beyond it RESOURCE_EXHAUSTED at once), a request message's and its metadata's size.
    grpc_max_connections: int = Field(1000, ge=1, le=1_000_000)
    grpc_handshake_timeout_seconds: float = Field(5.0, gt=0, le=120)
    grpc_idle_seconds: float = Field(60.0, gt=0, le=86400)
    grpc_max_connection_age_seconds: float = Field(3600.0, gt=0, le=7 * 86400)
    grpc_max_concurrent_streams: int = Field(100, ge=1, le=10000)
    grpc_max_rpcs: int | None = Field(None, ge=1, le=100_000)
    grpc_max_message_bytes: int = Field(1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    grpc_max_metadata_bytes: int = Field(16 * 1024, ge=4 * 1024, le=1024 * 1024)
    # The operations listener (HOST:PORT) serving /metrics and /healthz; when set, the public HTTP face
    # no longer serves /metrics. Empty: none, and /metrics stays on the HTTP face.
    ops: str = ""
    # WatchPayment: how often a stream reads its payment's new events (a change may come from any process;
    # every change is still its own message), how long one stream lasts before its client calls again, and
    # how many streams one process serves at once, in all and per app. Each stream holds one of `threads`,
    # so the cap stays below it; unset, it is half of `threads` (0 turns WatchPayment away with
    # RESOURCE_EXHAUSTED), and an app's share is half of the cap (at least 1).
    watch_poll_seconds: float = Field(0.25, gt=0, le=60)
    watch_max_seconds: float = Field(300.0, gt=0, le=86400)
    watch_max_streams: int | None = Field(None, ge=0)
    watch_max_streams_per_app: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _watch_streams_leave_threads(self) -> ServerSettings:
        if self.watch_max_streams is not None and self.watch_max_streams >= self.threads:
            raise ValueError(f"watch_max_streams ({self.watch_max_streams}) must be less than threads "
                             f"({self.threads}), so that watchers cannot take every thread")
        return self

    @property
    def watch_streams(self) -> int:
        """The cap on concurrent WatchPayment streams in one process."""
        return self.threads // 2 if self.watch_max_streams is None else self.watch_max_streams

    @property
    def grpc_rpcs(self) -> int:
        """The cap on gRPC calls in progress or waiting for a thread in one process."""
        return 4 * self.threads if self.grpc_max_rpcs is None else self.grpc_max_rpcs

    @property
    def watch_streams_per_app(self) -> int:
        """The cap on one app's concurrent WatchPayment streams in one process."""
        if self.watch_max_streams_per_app is not None:
            return self.watch_max_streams_per_app
        return max(1, self.watch_streams // 2)

    @field_validator("ops")
    @classmethod
    def _optional_address(cls, value: str) -> str:
        return cls._address(value) if value else value

    @field_validator("grpc", "http")
    @classmethod
    def _address(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:50051")
        return value


class DatabaseSettings(_Section):
    url: str = "sqlite:///cashier.db"
    pool_size: int = Field(16, ge=1, le=256)
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"


class AuthSettings(_Section):
    # How long a resolved API key is trusted before the database is asked again.
    cache_seconds: float = Field(1.0, ge=0, le=300)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class IdempotencySettings(_Section):
    retention_hours: int = Field(48, ge=24)


class RecoverySettings(_Section):
    # Recovery of lost notifications (gateway/service/recovery.py); `[reconcile]` until this release.
    # A PENDING payment this old is queried at its channel (its notification may have been lost).
    pending_after_seconds: float = Field(60.0, ge=0)
    # How often `cashier serve` looks for such payments, and for expired ones to close.
    every_seconds: float = Field(30.0, gt=0)
    # How long a payment rests after recovery asked about it before it is asked again. With a small
    # pending_after_seconds a payment may be asked about before the buyer has opened it at the channel
    # (no trade there yet: still pending); its success is then recovered up to this much later.
    revisit_seconds: float = Field(60.0, gt=0)
    batch: int = Field(100, ge=1, le=10000)


class WebhookSettings(_Section):
    # How often `cashier serve` looks for events to deliver.
    every_seconds: float = Field(1.0, gt=0)
    batch: int = Field(100, ge=1, le=10000)
    # One attempt, connection to last byte, lasts at most timeout_seconds; up to `concurrency` apps are
    # sent to at once (one app's events in order, one at a time), and an app starts no new attempt after
    # `app_budget_seconds` of a batch: its remaining events go back to the queue for the next batch.
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    concurrency: int = Field(8, ge=1, le=64)
    app_budget_seconds: float = Field(5.0, gt=0, le=600)
    # Where webhooks may go (gateway/webhook_targets.py): https only unless allow_http, and only to public
    # addresses (checked when the URL is registered and again, after resolving, on every connection)
    # unless the host name, address or network (CIDR) is in allow_hosts, e.g. ["127.0.0.1"] for tests.
    allow_http: bool = False
    allow_hosts: list[str] = []
    # Retries wait retry_base_seconds × 2^(n-1), at most retry_cap_seconds; after max_attempts the event
    # is PARKED for an operator. The defaults spread 20 attempts over about 21 hours.
    retry_base_seconds: float = Field(10.0, gt=0)
    retry_cap_seconds: float = Field(7200.0, gt=0)
    max_attempts: int = Field(20, ge=1, le=100)
    # Delivered events (and the lifecycle hook runs done for them) are deleted this long after delivery;
    # undelivered and parked ones are kept until they are delivered or an operator acts.
    retention_days: int = Field(30, ge=1)
    # How long a claimed event is left to its dispatcher before another may claim it again. A dispatcher
    # starts an attempt only if it ends (timeout_seconds) well inside the lease, so the lease must be longer.
    lease_seconds: float = Field(60.0, gt=0)

    @field_validator("allow_hosts")
    @classmethod
    def _hosts_or_networks(cls, hosts: list[str]) -> list[str]:
        from gateway.webhook_targets import parse_allow_entry

        for entry in hosts:
            parse_allow_entry(entry)  # ValueError naming the entry
        return hosts

    @model_validator(mode="after")
    def _attempts_fit_the_lease(self) -> WebhookSettings:
        if self.lease_seconds <= self.timeout_seconds * 1.25:
            raise ValueError("lease_seconds must exceed timeout_seconds by a quarter at least (an attempt must "
                             "end before another process may claim its event)")
        return self


class HookSettings(_Section):
    """The lifecycle runner: plugins' hooks (payment succeeded/closed, refund succeeded) called from the outbox."""

    every_seconds: float = Field(1.0, gt=0)
    batch: int = Field(100, ge=1, le=10000)
    # A hook that raises is called again after retry_base_seconds × 2^(n-1), at most retry_cap_seconds;
    # after max_attempts it is PARKED (`cashier hooks rerun`). The defaults: 12 attempts over ~5 hours.
    retry_base_seconds: float = Field(10.0, gt=0)
    retry_cap_seconds: float = Field(3600.0, gt=0)
    max_attempts: int = Field(12, ge=1, le=100)
    lease_seconds: float = Field(120.0, gt=0)


class RuleSettings(_Section):
    name: str
    merchants: list[str] = []
    business_categories: list[str] = []
    platforms: list[Platform] = []
    scenarios: list[Scenario] = []
    app_version: str = ""
    pin: str = ""
    deny: list[str] = []

    @field_validator("platforms", "scenarios", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return [v.upper() if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    @field_validator("app_version")
    @classmethod
    def _version_range(cls, value: str) -> str:
        if value:
            try:
                SpecifierSet(value)
            except InvalidSpecifier:
                raise ValueError(f"{value!r} is not a version range such as '<8.0' or '>=7.1,<8'") from None
        return value


class RoutingSettings(_Section):
    rules: list[RuleSettings] = []


class OnboardingSettings(_Section):
    """Merchant onboarding (gateway/service/onboarding.py)."""

    # Ordinary individuals (kind INDIVIDUAL) may apply, and those approved may collect; off until the
    # platform opens to them, without a code change.
    individuals: bool = False
    # Documents of rejected or withdrawn applications are deleted this many days after the decision.
    retention_days: int = Field(90, ge=1, le=3650)


class ReconcileSettings(_Section):
    """`[settlement.reconcile]`: reconciliation with the rails' statements (settlement/domain/reconciliation.py).

    The daily job fetches yesterday's statements after `fetch_after` (China time; Alipay's bills are usually
    ready before 9:00, not promised), tries again every `every_seconds` until both are in, and flags
    STATEMENT_NOT_READY once one is still missing after `flag_after`. A movement within `window_seconds` of
    the day's boundary on the other side of it is EXPECTED, not a difference. `alipay_fee_bps`, Alipay's
    contracted rate, is optional: when set, a trade whose bill fee is not round-half-up(amount × bps / 10000)
    is a FEE_DIFFERENCE."""

    alipay_fee_bps: int | None = Field(None, strict=True, ge=0, le=MAX_BPS)
    fetch_after: str = "09:30"
    flag_after: str = "12:00"
    every_seconds: float = Field(600.0, ge=10, le=86_400)
    window_seconds: int = Field(900, strict=True, ge=0, le=int(MAX_WINDOW.total_seconds()))

    @field_validator("fetch_after", "flag_after")
    @classmethod
    def _clock(cls, value: str) -> str:
        try:
            parse_cutoff(value)
        except InvalidArgument:
            raise ValueError('must be "HH:MM", 00:00 to 23:59 (China time)') from None
        return value

    @property
    def options(self) -> ReconcileOptions:
        return ReconcileOptions(window=timedelta(seconds=self.window_seconds), fee_bps=self.alipay_fee_bps,
                                fetch_after=parse_cutoff(self.fetch_after), flag_after=parse_cutoff(self.flag_after),
                                every_seconds=self.every_seconds)


class SettlementSettings(_Section):
    """`[settlement]`: the deposit, the platform's fees, what a refund does with them, the daily cut-off, and
    the payout run's rules (parts, parking, negative balances, merchants paid at once: `payout_concurrency`).

    Fees (`[settlement.fees]`, channel name → whole basis points, e.g. `mobile = 60` for 0.60 %): the rate is
    read when a payment succeeds and stored on it (settlement/domain/fees.py has the rounding rule). The
    decision for set-ups without the table, so that existing configurations keep starting: **no
    `[settlement.fees]` at all** means every channel is charged 0 bps, and start-up logs a warning saying
    so; **a `[settlement.fees]` table** must name every channel the gateway loads, or start-up stops naming
    the missing ones (a forgotten line would otherwise give the platform's service away unseen). A table
    naming a channel that is not loaded is accepted with a warning (a plugin may be switched off for a
    while). Fees never refuse a paid payment: the rate is decided here, once, at start-up.
    """

    # The deposit (fen) a merchant must have held to be paid out on T+0; 20,000.00 CNY by default.
    deposit_required: int = Field(2_000_000, ge=1, le=10_000_000_000)
    fees: dict[str, Annotated[int, Field(strict=True, ge=0, le=MAX_BPS)]] | None = Field(
        None, max_length=MAX_CHANNELS)
    # What a refund does with the platform's fee: "pro_rata" gives back the refunded share, "kept" nothing.
    refund_fee: Literal["pro_rata", "kept"] = "pro_rata"
    # Settlement days end at this time, "HH:MM" China time (Asia/Shanghai); "00:00" = calendar days.
    cutoff: str = "00:00"
    # How T+N is counted: "calendar" days, or Chinese "working" days (the chinese-calendar library, then
    # `holiday_file` for a year past its data; settlement/domain/calendar.py has the file's format).
    days: Literal["calendar", "working"] = "calendar"
    holiday_file: str = Field("", max_length=4096)
    # Failed runs after which a merchant's payouts are parked with an operator flag instead of retried.
    max_payout_failures: int = Field(3, strict=True, ge=1, le=100)
    # The largest single transfer (fen); a bigger payout is split into parts. 50,000.00 CNY by default: the
    # protocol notes (§9) give no figure for the account's single-transfer quota (EXCEED_LIMIT_SM_AMOUNT),
    # only the API's own bound, 100,000,000.00 CNY, which is this setting's ceiling.
    max_transfer: int = Field(5_000_000, strict=True, ge=2 * ALIPAY_MIN_TRANSFER, le=ALIPAY_MAX_TRANSFER)
    # Days a merchant's balance may stay negative (with no deposit left to cover it) before an operator is told.
    negative_days: int = Field(7, strict=True, ge=1, le=366)
    # Merchants a settlement run pays at once (settlement/service/run.py): each one's payout is still created,
    # transferred and booked in order, under its own row lock; 1 pays one merchant after another. Each
    # transfer waits 100-300 ms on Alipay, so 4 cuts a run of 1,000 merchants from minutes to about a quarter.
    payout_concurrency: int = Field(4, strict=True, ge=1, le=MAX_PAYOUT_CONCURRENCY)
    reconcile: ReconcileSettings = ReconcileSettings()

    @field_validator("fees")
    @classmethod
    def _channel_names(cls, fees: dict[str, int] | None) -> dict[str, int] | None:
        for name in fees or {}:
            if not _CHANNEL_NAME.fullmatch(name):
                raise ValueError(f"{name[:64]!r} is no channel name (letters, digits, '_' and '-', 1 to 64)")
        return fees

    @field_validator("cutoff")
    @classmethod
    def _cutoff(cls, value: str) -> str:
        try:
            parse_cutoff(value)
        except InvalidArgument as exc:
            raise ValueError(exc.violations[0].description) from None
        return value

    @field_validator("holiday_file")
    @classmethod
    def _holiday_file(cls, value: str) -> str:
        if value:
            _read_holiday_file(value)  # refused at start-up, not at the first run that needs it
        return value

    @property
    def cutoff_time(self) -> time:
        return parse_cutoff(self.cutoff)

    @property
    def payout_rules(self) -> PayoutRules:
        return PayoutRules(max_transfer=self.max_transfer, max_failures=self.max_payout_failures,
                           negative_days=self.negative_days, deposit_required=self.deposit_required,
                           payout_concurrency=self.payout_concurrency)

    def calendar(self) -> Calendar:
        """The run's calendar: the cut-off, calendar or working days, and the operator's holiday file (read
        again here, so that a file corrected since start-up is the one used)."""
        years = [_read_holiday_file(self.holiday_file)] if self.holiday_file else []
        return Calendar(cutoff=self.cutoff_time, days=DayCount(self.days), working_days=WorkingDays.with_files(years))

    @property
    def refund_policy(self) -> RefundFeePolicy:
        return RefundFeePolicy(self.refund_fee)

    def fee_schedule(self, channels: Collection[str]) -> FeeSchedule:
        """The rates of the loaded `channels` (see the class for the rule), or ConfigError naming the
        channels `[settlement.fees]` leaves out."""
        if self.fees is None:
            if channels:
                _log.warning("configuration: no [settlement.fees]; the platform charges no fee on channels %s "
                             "(add e.g. `[settlement.fees] %s = 60`)", ", ".join(sorted(channels)),
                             sorted(channels)[0])
            return FeeSchedule({name: 0 for name in channels}, self.refund_policy)
        missing = sorted(set(channels) - set(self.fees))
        if missing:
            raise ConfigError(f"[settlement.fees] names no rate for channel(s) {', '.join(missing)}: every loaded "
                              "channel needs one (0 for no fee)")
        unused = sorted(set(self.fees) - set(channels))
        if unused:
            _log.warning("configuration: [settlement.fees] names channel(s) %s, which are not loaded",
                         ", ".join(unused))
        return FeeSchedule(dict(self.fees), self.refund_policy)


def _read_holiday_file(path: str) -> HolidayYear:
    """The operator's holiday file at `path`, bounded in size before it is read; any fault is a ValueError
    naming the file (pydantic adds the key)."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_HOLIDAY_FILE_BYTES:
            raise ValueError(f"{path}: larger than {MAX_HOLIDAY_FILE_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    try:
        return parse_holiday_file(text)
    except InvalidArgument as exc:
        raise ValueError(f"{path}: {exc.violations[0].description}") from None


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    logging: LoggingSettings = LoggingSettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    routing: RoutingSettings = RoutingSettings()
    recovery: RecoverySettings = RecoverySettings()
    webhooks: WebhookSettings = WebhookSettings()
    hooks: HookSettings = HookSettings()
    onboarding: OnboardingSettings = OnboardingSettings()
    settlement: SettlementSettings = SettlementSettings()
    # [channels.<name>] tables, handed to the plugins as they are.
    channels: dict[str, dict[str, Any]] = {}
    # [plugins.<name>] tables for lifecycle plugins (e.g. [plugins.buyer_message]), handed over as they are.
    plugins: dict[str, dict[str, Any]] = {}

    @property
    def public_url(self) -> str:
        return self.server.public_url or f"http://{self.server.http}"

    @model_validator(mode="before")
    @classmethod
    def _renamed_sections(cls, data: Any) -> Any:
        """`[reconcile]` is the old name of `[recovery]`: accepted for one release, with a warning."""
        if not isinstance(data, dict) or DEPRECATED_RECOVERY_KEY not in data:
            return data
        if "recovery" in data:
            raise ValueError("[reconcile] is the old name of [recovery]: give [recovery] only")
        _log.warning(RECOVERY_KEY_DEPRECATED)
        data = dict(data)
        data["recovery"] = data.pop(DEPRECATED_RECOVERY_KEY)
        return data


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None,
                  overrides: dict[str, Any] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    data: dict[str, Any] = {}
    text = ""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such configuration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if env.get("CASHIER_DATABASE_URL"):
        data.setdefault("database", {})["url"] = env["CASHIER_DATABASE_URL"]
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = key_lines(text)
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_for(lines, loc)
            where = f"line {line}: " if line else ""
            key = f"{'.'.join(str(p) for p in loc)}: " if loc else ""  # e.g. two sections that exclude each other
            problems.append(f"  {where}{key}{err['msg']}")
        raise ConfigError(f"{path or 'configuration'} is not valid:\n" + "\n".join(problems)) from None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Where each table and key first appears, by key path (array-of-tables entries by index), so that
    a problem found after parsing can still name its line. tomllib keeps no positions."""
    found: dict[tuple[Any, ...], int] = {}
    counters: dict[tuple[str, ...], int] = {}
    table: tuple[Any, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = tuple(part.strip().strip('"') for part in header.group(2).split("."))
            if header.group(1) == "[[":
                counters[names] = counters.get(names, -1) + 1
                table = (*names, counters[names])
            else:
                table = names
            found.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            names = tuple(part.strip().strip('"') for part in key.group(1).split("."))
            found.setdefault((*table, *names), number)
    return found


def _line_for(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
