"""The Alipay statement plugin against the Alipay sandbox over real HTTP with real RSA signatures: configured as an
operator configures it (`[channels.alipay]`, certificate or key mode), found through its hook, reading a day's
trade bill and account bill as the contract's lines once the day is over, showing the differences a test plants,
and saying "not ready" for a day whose bill Alipay has not made yet."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import channels.alipay_statements
from channels.alipay.rail import AlipayClient
from channels.alipay.sandbox import SandboxConfig, start_in_thread
from channels.alipay.toolkit import AlipaySettings
from channels.alipay_statements.source import AlipayStatementError
from channels.contract import LineKind, StatementKind, StatementLine, StatementNotReady, StatementSource
from gateway.plugins import collect_statement_sources, make_plugin_manager
from tests.e2e.alipay_world import World
from tests.e2e.test_alipay_payouts_sandbox import app_table

BEIJING = timezone(timedelta(hours=8))
DAY = date(2024, 5, 10)
CERT_APP_ID = "2021000000000501"
KEY_APP_ID = "2021000000000502"
PAYEE = ("finance@teahouse.example", "Fuzhou Tea House Co., Ltd.")


class Clock:
    """The sandbox's clock: Alipay's day (and whether its bill exists yet) is the sandbox's to say."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(datetime(DAY.year, DAY.month, DAY.day, 10, 0, 0, tzinfo=BEIJING))


@pytest.fixture(scope="module")
def world(clock: Clock) -> Iterator[World]:
    # strict_bill_date: as at Alipay, a day's bill exists only once the day is over.
    handle = start_in_thread(SandboxConfig(port=0, time_scale=0.0005, notify_timeout=3.0, strict_bill_date=True,
                                           clock=clock))
    w = World(handle)
    try:
        w.admin.post("/sandbox/accounts", json={"logon_id": PAYEE[0], "name": PAYEE[1]}).raise_for_status()
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def config(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"alipay": app_table(world, tmp_path_factory.mktemp("statements"), CERT_APP_ID, certificate_mode=True)}


@pytest.fixture(scope="module")
def source(config: dict[str, Any]) -> Iterator[StatementSource]:
    sources = collect_statement_sources(make_plugin_manager(load_entrypoints=False,
                                                            plugins=[channels.alipay_statements]), config)
    assert [s.name for s in sources] == ["alipay"] and isinstance(sources[0], StatementSource)
    yield sources[0]
    sources[0].close()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def alipay(config: dict[str, Any]) -> Iterator[AlipayClient]:
    """The merchant's side of the day: the same app's rail client pays, refunds and transfers."""
    with AlipaySettings.from_table(config["alipay"]).client() as client:
        yield client


def pay(world: World, alipay: AlipayClient, out_trade_no: str, amount_fen: int, app_id: str = CERT_APP_ID) -> None:
    assert alipay.precreate(out_trade_no=out_trade_no, total_amount_fen=amount_fen, subject="茶").outcome.succeeded
    world.pay(out_trade_no, app_id, notify=False)


@pytest.fixture(scope="module")
def the_day(world: World, alipay: AlipayClient, clock: Clock) -> dict[str, str]:
    """A day of the platform's account: two payments, a partial refund, a payout; then the next morning."""
    pay(world, alipay, "pay_1", 10_000)
    pay(world, alipay, "pay_2", 2_000)
    pay(world, alipay, "pay_3", 500)
    assert alipay.refund(out_trade_no="pay_2", out_request_no="ref_1", refund_amount_fen=500).outcome.succeeded
    payout = alipay.transfer(out_biz_no="po_1_1", trans_amount_fen=3_000, payee_identity=PAYEE[0],
                             payee_identity_type="ALIPAY_LOGON_ID", payee_name=PAYEE[1], order_title="结算款")
    assert payout.outcome.succeeded
    trade_nos = {key: world.trade(key, CERT_APP_ID).json()["trade_no"]
                 for key in ("pay_1", "pay_2", "pay_3")}
    clock.now = datetime(DAY.year, DAY.month, DAY.day, 9, 0, tzinfo=BEIJING) + timedelta(days=1)
    return trade_nos


def summary(lines: list[StatementLine]) -> list[tuple[Any, ...]]:
    """Sorted: lines of one second come in the order of Alipay's trade numbers, which are random."""
    return sorted(((line.kind.value, line.reference, line.amount, line.fee, line.payment_reference)
                   for line in lines), key=lambda t: (t[1], t[0]))


def test_a_day_not_over_is_not_ready(world: World, source: StatementSource, alipay: AlipayClient, clock: Clock,
                                     the_day: dict[str, str]) -> None:
    pay(world, alipay, "next_day_1", 100)  # the next day has begun and has a trade, but is not over
    for kind in StatementKind:
        with pytest.raises(StatementNotReady, match=f"no .* bill for {clock.now.date().isoformat()} yet"):
            source.lines(clock.now.date(), kind)
    with pytest.raises(StatementNotReady):
        source.lines(DAY - timedelta(days=30), StatementKind.ACCOUNT)  # a quiet day has no bill, as at Alipay


def test_the_trade_bill_as_lines(source: StatementSource, the_day: dict[str, str]) -> None:
    lines = list(source.lines(DAY, StatementKind.TRADES))
    assert summary(lines) == [
        ("PAYMENT", "pay_1", 10_000, 60, ""),
        ("PAYMENT", "pay_2", 2_000, 12, ""),
        ("PAYMENT", "pay_3", 500, 3, ""),
        ("REFUND", "ref_1", -500, -3, "pay_2"),  # a quarter of pay_2's fee given back
    ]
    assert sorted((line.reference, line.channel_reference) for line in lines) == [
        ("pay_1", the_day["pay_1"]), ("pay_2", the_day["pay_2"]), ("pay_3", the_day["pay_3"]),
        ("ref_1", the_day["pay_2"])]
    assert all(line.occurred_at == datetime(2024, 5, 10, 10, 0, tzinfo=BEIJING) for line in lines)


def test_the_account_bill_as_lines(source: StatementSource, the_day: dict[str, str]) -> None:
    lines = list(source.lines(DAY, StatementKind.ACCOUNT))
    assert [(line.kind, line.reference, line.amount, line.payment_reference) for line in lines] == [
        (LineKind.PAYMENT, "pay_1", 10_000, ""),
        (LineKind.FEE, "pay_1", -60, ""),
        (LineKind.PAYMENT, "pay_2", 2_000, ""),
        (LineKind.FEE, "pay_2", -12, ""),
        (LineKind.PAYMENT, "pay_3", 500, ""),
        (LineKind.FEE, "pay_3", -3, ""),
        (LineKind.REFUND, "", -500, "pay_2"),
        (LineKind.FEE, "pay_2", 3, ""),
        (LineKind.TRANSFER, "po_1_1", -3_000, ""),
    ]
    assert all(line.fee == 0 and line.channel_reference for line in lines)
    assert len({line.channel_reference for line in lines}) == len(lines)


def test_planted_differences_appear_and_nothing_else(world: World, source: StatementSource,
                                                     the_day: dict[str, str]) -> None:
    world.faults(bill_differences={
        "drop": ["pay_1"], "amount": {"pay_2": "19.99"}, "fee": {"pay_3": "0.07"},
        "extra": [{"out_trade_no": "ghost_1", "total_amount": "8.00", "gmt_payment": "2024-05-10 12:00:00"}]})
    try:
        lines = summary(list(source.lines(DAY, StatementKind.TRADES)))
        account = [(line.kind, line.reference, line.amount)
                   for line in source.lines(DAY, StatementKind.ACCOUNT)]
    finally:
        world.reset_faults()
    assert lines == [
        ("PAYMENT", "ghost_1", 800, 5, ""),  # a trade the gateway never made
        ("PAYMENT", "pay_2", 1_999, 12, ""),  # billed another amount; its fee is as charged
        ("PAYMENT", "pay_3", 500, 7, ""),  # charged another fee
        ("REFUND", "ref_1", -500, -3, "pay_2"),
    ]  # and pay_1 is missing
    assert (LineKind.PAYMENT, "pay_1", 10_000) not in account
    assert (LineKind.PAYMENT, "ghost_1", 800) in account and (LineKind.FEE, "pay_3", -7) in account
    # Cleared: the bill is the records again.
    assert {line.reference for line in source.lines(DAY, StatementKind.TRADES)} == {"pay_1", "pay_2", "pay_3",
                                                                                    "ref_1"}


def test_a_file_downloaded_by_hand_reads_the_same(world: World, source: StatementSource, alipay: AlipayClient,
                                                  the_day: dict[str, str]) -> None:
    for kind, bill_type in ((StatementKind.TRADES, "trade"), (StatementKind.ACCOUNT, "signcustomer")):
        url = alipay.bill_download_url(bill_date=DAY.isoformat(), bill_type=bill_type).bill_download_url
        assert url
        data = httpx.get(url).content
        assert list(source.read_file(data, kind)) == list(source.lines(DAY, kind))
    with pytest.raises(ValueError, match="no trade detail CSV"):
        list(source.read_file(data, StatementKind.TRADES))  # the account bill is not a trade bill
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("x_业务明细.csv", "支付宝交易号,商户订单号\r\n".encode("gbk"))
    with pytest.raises(ValueError, match="bill header has 2 columns"):
        list(source.read_file(broken.getvalue(), StatementKind.TRADES))
    with pytest.raises(ValueError, match="kind must be a StatementKind"):
        source.read_file(data, "ACCOUNT")  # type: ignore[arg-type]


def test_a_refused_bill_query_says_so_without_secrets(world: World, source: StatementSource,
                                                      config: dict[str, Any], the_day: dict[str, str]) -> None:
    world.faults(system_error={"method": "alipay.data.dataservice.bill.downloadurl.query", "count": -1,
                               "code": "40004", "sub_code": "isv.insufficient-isv-permissions"})
    try:
        with pytest.raises(AlipayStatementError, match="isv.insufficient-isv-permissions") as refused:
            source.lines(DAY, StatementKind.ACCOUNT)
    finally:
        world.reset_faults()
    key = Path(config["alipay"]["app_private_key_file"]).read_text()
    assert "PRIVATE" not in str(refused.value) and key.splitlines()[1] not in str(refused.value)


def test_bills_need_no_certificate_mode(world: World, clock: Clock, tmp_path: Path, the_day: dict[str, str]) -> None:
    config = {"alipay": app_table(world, tmp_path, KEY_APP_ID, certificate_mode=False)}
    [source] = collect_statement_sources(make_plugin_manager(load_entrypoints=False,
                                                             plugins=[channels.alipay_statements]), config)
    with AlipaySettings.from_table(config["alipay"]).client() as alipay:
        clock.now -= timedelta(days=1)
        try:
            pay(world, alipay, "key_pay_1", 1_234, KEY_APP_ID)
        finally:
            clock.now += timedelta(days=1)
    try:
        assert summary(list(source.lines(DAY, StatementKind.TRADES))) == [("PAYMENT", "key_pay_1", 1_234, 7, "")]
    finally:
        source.close()  # type: ignore[attr-defined]
    assert collect_statement_sources(make_plugin_manager(load_entrypoints=False,
                                                         plugins=[channels.alipay_statements]), {}) == []
