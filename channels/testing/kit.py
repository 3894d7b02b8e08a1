"""The kit's engine: load the channel under test exactly as the gateway does, and the cases the checks run.

Loading goes through the gateway's own plugin manager (gateway.plugins: make_plugin_manager, start_plugins,
collect_channels_by_plugin), so a channel passes here only if the gateway would load it the same way.
Every answer and exception a channel gives is recorded, never raised: a failing channel is reported by the
check it fails, and the other checks still run.
"""

from __future__ import annotations

import copy
import itertools
import math
import secrets
import socket
import tempfile
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from channels.alipay.sandbox.local import LocalAlipay
from channels.contract import (
    Channel,
    ClientInfo,
    MerchantView,
    PaymentState,
    PaymentView,
    Platform,
    RouteRequest,
    Scenario,
)
from gateway.plugins import (
    ENTRY_POINT_GROUP,
    PluginError,
    collect_channels_by_plugin,
    make_plugin_manager,
    start_plugins,
)

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080"
#: What one `offer` call may take: it runs for every channel on every CreatePayment. Reported, not asserted.
OFFER_BUDGET_SECONDS = 0.005
#: All the routing matrix may take per channel: a slow offer() is reported on the requests asked by then,
#: instead of holding the author's test run for minutes.
ROUTING_SECONDS = 30.0
#: What the gateway's configuration accepts as a channel name (gateway/config.py), and what fits a URL path.
NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"

APP_VERSIONS = ("", "1.0", "8.0", "10.2.3", "not-a-version")
USER_AGENTS = {
    Platform.IOS_APP: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) PlatformApp",
    Platform.ANDROID_APP: "Mozilla/5.0 (Linux; Android 14) PlatformApp",
    Platform.HARMONYOS_APP: "Mozilla/5.0 (Phone; OpenHarmony 4.0) PlatformApp",
    Platform.PC_BROWSER: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0",
    Platform.MOBILE_BROWSER: "Mozilla/5.0 (Linux; Android 14) Mobile Safari/537.36",
    Platform.IN_APP_BROWSER: "Mozilla/5.0 (iPhone) MicroMessenger/8.0",
}
#: Minor units (fen): the smallest amount, everyday ones, and a large one.
AMOUNTS = (1, 100, 12_345, 1_000_000, 100_000_000)
# Ids the gateway accepts for a merchant, so that the end-to-end purchase routes the same merchant as the matrix.
MERCHANTS = (MerchantView("m-kit-food", "Kit Food Shop", "food"), MerchantView("m-kit-plain", "测试商户", ""))
_ULID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def route_requests() -> list[RouteRequest]:
    """Every client × scenario × amount × merchant × scan-to-pay the routing checks ask about."""
    return [
        RouteRequest(merchant, amount, "CNY", ClientInfo(platform, "kit", version, USER_AGENTS[platform]),
                     scenario, scan)
        for platform, version, scenario, amount, merchant, scan in itertools.product(
            Platform, APP_VERSIONS, Scenario, AMOUNTS, MERCHANTS, (False, True))
    ]


def describe(request: RouteRequest) -> str:
    client = request.client
    version = f" {client.app_version!r}" if client.app_version else " (no version)"
    return (f"{client.platform.value}{version}, {request.scenario.value}, {request.amount} fen, "
            f"merchant {request.merchant.id}{', scan to pay' if request.scan_to_pay else ''}")


def payment_for(request: RouteRequest, channel: str) -> PaymentView:
    """A payment as the gateway hands it to `prepare` once routing chose the channel."""
    return PaymentView(
        id="pay_" + "".join(secrets.choice(_ULID) for _ in range(26)),
        merchant_id=request.merchant.id,
        out_trade_no=f"kit-{secrets.token_hex(6)}",
        amount=request.amount,
        currency=request.currency,
        subject="Conformance kit order",
        client=request.client,
        scenario=request.scenario,
        channel=channel,
        state=PaymentState.PENDING,
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        return_url="https://merchant.example/return",
        scan_to_pay=request.scan_to_pay,
        checkout_token=secrets.token_urlsafe(24),
    )


@dataclass
class Answer:
    request: RouteRequest
    value: object = None
    error: BaseException | None = None
    seconds: float = 0.0


@dataclass
class Registration:
    """One registration of the plugin under test with one configuration."""

    channels: list[Channel] = field(default_factory=list)
    error: str = ""

    def close(self) -> None:
        for channel in self.channels:
            close = getattr(channel, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001 - a failing close must not hide the check's own result
                    pass


def register(entry_point: str, config: Mapping[str, Any]) -> Registration:
    """What `cashier serve` does at start-up for this one plugin (CASHIER_LOAD_CHANNELS=entry_point)."""
    tables = config.get("channels", {})
    gateway_url = str(config.get("server", {}).get("public_url", DEFAULT_GATEWAY_URL))
    try:
        pm = make_plugin_manager(allow={entry_point})
        start_plugins(pm, config.get("plugins", {}))
        found = collect_channels_by_plugin(pm, tables, gateway_url)
    except PluginError as exc:
        return Registration(error=str(exc))
    return Registration([channel for channel, plugin in found if plugin == entry_point])


def wrong_value(value: object) -> object:
    """A value of another type than the one configured, as a typo in the file would give."""
    if isinstance(value, bool):
        return "yes please"
    if isinstance(value, int | float):
        return "not-a-number"
    if isinstance(value, str):
        return ["not", "a", "string"]
    if isinstance(value, dict):
        return "not-a-table"
    return {"not": "a list"}


class Kit:
    """The channel under test, loaded once per test session."""

    def __init__(self, name: str, config_path: str | None):
        self.name = name
        self.config_path = config_path
        self.config: dict[str, Any] = {}
        self.entry_point = ""
        self.selected: str | None = None  # a channel name, when NAME named a channel and not an entry point
        self.load_error = ""  # why the entry point could not be found or loaded (the registration test says)
        self.registration = Registration()
        self.local_alipay: LocalAlipay | None = None
        self.notes: list[str] = []
        self.offer_seconds: dict[str, list[float]] = {}
        self._routing: dict[str, list[Answer]] = {}
        self._purchases: dict[str, Any] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="cashier-kit-")
        self._loaded = False

    # -- loading ---------------------------------------------------------------------------------------
    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            self.config = self._read_config()
        except ValueError as exc:
            self.load_error = str(exc)
            return
        self._supply_alipay()
        self.entry_point, self.selected = self._find_entry_point()
        if not self.entry_point:
            return
        self.registration = register(self.entry_point, self.config)
        if self.selected is not None:
            self.registration.channels = [c for c in self.registration.channels if c.name == self.selected]

    def _read_config(self) -> dict[str, Any]:
        if self.config_path is None:
            return {"channels": {}}
        path = Path(self.config_path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"--cashier-config {path}: cannot read it ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"--cashier-config {path} is not valid TOML: {exc}") from None
        channels = data.setdefault("channels", {})
        if not isinstance(channels, dict):
            raise ValueError(f"--cashier-config {path}: [channels] must be a table of [channels.<name>] tables")
        return data

    def _supply_alipay(self) -> None:
        if "alipay" in self.config["channels"]:
            return
        from channels.testing import alipay

        self.local_alipay = alipay.start(Path(self._tmp.name) / "alipay")
        self.config["channels"]["alipay"] = dict(self.local_alipay.channel_table)
        self.notes.append(f"no [channels.alipay] in the configuration: the kit started a local Alipay sandbox "
                          f"at {self.local_alipay.url} and used it")

    def _find_entry_point(self) -> tuple[str, str | None]:
        names = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        if self.name in names:
            return self.name, None
        # NAME may be a channel that an entry point of another name registers (one plugin, several channels).
        for candidate in names:
            found = register(candidate, self.config)
            found.close()
            if any(channel.name == self.name for channel in found.channels):
                return candidate, self.name
        self.load_error = (
            f"no '{ENTRY_POINT_GROUP}' entry point named {self.name!r}, and none registers a channel of that "
            f"name with this configuration (entry points installed: {', '.join(names) or 'none'}). Declare it "
            f"in your pyproject.toml:\n  [project.entry-points.\"{ENTRY_POINT_GROUP}\"]\n  {self.name} = "
            "\"your_package\"\nand install your package (pip install -e .) in this environment")
        return "", None

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.registration.channels if c.name == name), None)

    def close(self) -> None:
        self.registration.close()
        if self.local_alipay is not None:
            self.local_alipay.stop()
        self._tmp.cleanup()

    # -- routing ---------------------------------------------------------------------------------------
    def routing(self, channel: Channel) -> list[Answer]:
        """Every route request asked once (cached): the answer or the exception, and the time it took."""
        if channel.name not in self._routing:
            requests = route_requests()
            answers = []
            deadline = time.monotonic() + ROUTING_SECONDS
            for request in requests:
                answers.append(ask(channel, request))
                if time.monotonic() > deadline:
                    self.notes.append(f"{channel.name}: offer() took over {ROUTING_SECONDS:g} s for "
                                      f"{len(answers)} of {len(requests)} requests; the rest were not asked")
                    break
            self._routing[channel.name] = answers
            self.offer_seconds[channel.name] = [a.seconds for a in answers]
        return self._routing[channel.name]

    # -- end to end ----------------------------------------------------------------------------------
    def purchase(self, channel: Channel) -> Any:
        """The end-to-end purchase (channels.testing.endtoend.Purchase), run once per channel and cached:
        its three steps are three tests. None when the channel offered for none of the kit's cases."""
        from channels.alipay.toolkit import AlipayNotifications
        from channels.contract import Offer, Refunder
        from channels.testing import endtoend

        if channel.name not in self._purchases:
            offered = [a.request for a in self.routing(channel) if isinstance(a.value, Offer)]
            # An everyday amount, not scan to pay, when the channel offers for one: what most payments are.
            offered.sort(key=lambda r: (r.scan_to_pay, abs(r.amount - 12_345)))
            result = None
            if offered:
                workdir = Path(self._tmp.name) / f"gateway-{channel.name}"
                workdir.mkdir(parents=True, exist_ok=True)
                alipay_url = self.local_alipay.url if self.local_alipay is not None else None
                if not isinstance(channel, AlipayNotifications):
                    alipay_url = None  # a rail the kit has never seen: it can create, not pay
                result = endtoend.purchase(self.entry_point, self.config, channel, offered[0], alipay_url,
                                           isinstance(channel, Refunder), workdir)
            self._purchases[channel.name] = result
        return self._purchases[channel.name]

    def timing_report(self) -> list[str]:
        lines = []
        for name, seconds in sorted(self.offer_seconds.items()):
            ordered = sorted(seconds)
            p99 = ordered[max(0, math.ceil(len(ordered) * 0.99) - 1)]
            over = sum(1 for s in ordered if s > OFFER_BUDGET_SECONDS)
            lines.append(f"{name}: offer() {len(ordered)} calls, median {ordered[len(ordered) // 2] * 1000:.3f} ms, "
                         f"p99 {p99 * 1000:.3f} ms, max {ordered[-1] * 1000:.3f} ms; budget "
                         f"{OFFER_BUDGET_SECONDS * 1000:g} ms per call: {over} over")
        return lines

    def register_with_rail_down(self) -> Registration | None:
        """The plugin registered again with its Alipay rail pointing at a closed port; None when the
        configuration has no [channels.alipay] (the kit knows no other rail to take down)."""
        table = self.config["channels"].get("alipay")
        if not isinstance(table, dict):
            return None
        with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = copy.deepcopy(self.config)
        config["channels"]["alipay"]["gateway_url"] = f"http://127.0.0.1:{port}/gateway.do"
        found = register(self.entry_point, config)
        if self.selected is not None:
            found.channels = [c for c in found.channels if c.name == self.selected]
        return found

    # -- configuration errors --------------------------------------------------------------------------
    def configuration_problems(self) -> list[str]:
        """Each key of the plugin's own tables set to a wrong type, and an unknown key added: a refusal at
        start-up must name the key. Accepting it is noted in the report, not failed (a channel may coerce)."""
        own = {self.entry_point, *(c.name for c in self.registration.channels)} - {"alipay"}
        tables = self.config["channels"]
        problems = []
        trials: list[tuple[str, str, object]] = []
        for table in sorted(own & set(tables)):  # only the tables the author configured
            for key, value in sorted(dict(tables[table] or {}).items()):
                trials.append((table, key, wrong_value(value)))
            trials.append((table, "kit_unknown_key", 1))
        for table, key, value in trials:
            config = copy.deepcopy(self.config)
            config["channels"].setdefault(table, {})[key] = value
            found = register(self.entry_point, config)
            found.close()
            where = f"[channels.{table}] {key} = {value!r}"
            if not found.error:
                self.notes.append(f"{where} was accepted at start-up (no error): check that a typo there "
                                  "cannot go unnoticed")
            elif key not in found.error:
                problems.append(f"{where}: start-up failed, but the error does not name {key!r}, so the "
                                f"operator cannot tell what to fix: {found.error}")
        return problems


def ask(channel: Channel, request: RouteRequest) -> Answer:
    started = time.perf_counter()
    try:
        value = channel.offer(request)
    except Exception as exc:  # noqa: BLE001 - the kit reports it; it must not crash the check
        return Answer(request, error=exc, seconds=time.perf_counter() - started)
    return Answer(request, value, seconds=time.perf_counter() - started)
