"""The PC channel: offers for PC browsers only, redirect or QR code, its configuration, the QR images."""

from __future__ import annotations

import logging
import struct
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
import segno

import channels.pc
from channels.alipay.rail.outcomes import AlipayOutcome, Outcome
from channels.alipay.rail.results import PagePayRedirect, PrecreateResult
from channels.alipay.toolkit import PrecreateFailed
from channels.contract import (
    Channel,
    ClientInfo,
    Decline,
    NotificationReceiver,
    Offer,
    Platform,
    QrCode,
    Redirect,
    RouteRequest,
    Scenario,
)
from channels.contract.qr import BORDER, render
from channels.pc.channel import PcChannel, PcSettings
from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan
from gateway.domain.payments import Payment, PaymentState

MERCHANT = Merchant("m", "M", MerchantState.APPROVED, True, "food", SettlementPlan.T15,
                    datetime(2026, 1, 1, tzinfo=UTC))
NOW = datetime(2026, 3, 1, 4, 0, 0, tzinfo=UTC)
QR_URL = "https://qr.alipay.com/bax00000000000000000000"
GATEWAY_URL = "https://cashier.example"
NOTIFY_URL = "https://cashier.example/notify/pc/m"
OK = AlipayOutcome(Outcome.SUCCESS, "OK", "alipay_answer", code="10000", msg="Success")


class StubAlipay:
    """Records what the channel asks of the rail; answers with `precreate_result`."""

    def __init__(self, precreate_result: PrecreateResult | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.precreate_result = precreate_result or PrecreateResult(OK, "pay-1", QR_URL)

    def page_pay(self, **kwargs: Any) -> PagePayRedirect:
        self.calls.append(("page_pay", kwargs))
        return PagePayRedirect("https://alipay.test/gateway.do?x=1", "<form></form>", kwargs["out_trade_no"])

    def precreate(self, **kwargs: Any) -> PrecreateResult:
        self.calls.append(("precreate", kwargs))
        return self.precreate_result


class StubSettings:
    """Stands in for AlipaySettings: the channel takes its credentials and one client."""

    credentials = None
    seller_id = None

    def __init__(self, alipay: StubAlipay) -> None:
        self.alipay = alipay

    def client(self) -> StubAlipay:
        return self.alipay


def channel(alipay: StubAlipay | None = None, **table: Any) -> PcChannel:
    settings = StubSettings(alipay or StubAlipay())
    return PcChannel(settings, PcSettings.from_table(table), GATEWAY_URL)  # type: ignore[arg-type]


def ask(pc: PcChannel, platform: Platform, scan_to_pay: bool = False) -> Offer | Decline:
    return pc.offer(RouteRequest(MERCHANT, 100, "CNY", ClientInfo(platform, "", "1.0"), Scenario.OTHER,
                                 scan_to_pay))


def payment(**fields: Any) -> Payment:
    base = Payment(
        id="pay_01HZZ", merchant_id="m", app_id="app-1", out_trade_no="order-7", amount=1999, currency="CNY",
        subject="Oolong tea", client=ClientInfo(Platform.PC_BROWSER), scenario=Scenario.SHOP_HOME,
        channel="pc", action=None, state=PaymentState.PENDING, created_at=NOW, updated_at=NOW,
        expires_at=NOW + timedelta(minutes=30))
    return replace(base, **fields)


# --- offers -------------------------------------------------------------------------------------------


def test_satisfies_the_channel_protocol_and_receives_notifications() -> None:
    pc = channel()
    assert isinstance(pc, Channel) and isinstance(pc, NotificationReceiver)
    assert pc.actions == ("redirect", "qr_code") and pc.platforms == (Platform.PC_BROWSER,)
    assert set(pc.scenarios) == set(Scenario)


@pytest.mark.parametrize("platform", list(Platform))
def test_offers_only_to_pc_browsers(platform: Platform) -> None:
    answer = ask(channel(), platform)
    if platform is Platform.PC_BROWSER:
        assert answer == Offer(60, "PC browser: redirect to Alipay's checkout page")
    else:
        assert isinstance(answer, Decline)
        assert "not a PC browser" in answer.reason and platform.value in answer.reason


def test_scan_to_pay_offer_says_qr_code() -> None:
    answer = ask(channel(), Platform.PC_BROWSER, scan_to_pay=True)
    assert isinstance(answer, Offer) and answer.priority == 60 and "QR code" in answer.reason
    assert isinstance(ask(channel(), Platform.MOBILE_BROWSER, scan_to_pay=True), Decline)


def test_priority_is_configurable() -> None:
    answer = ask(channel(priority=5), Platform.PC_BROWSER)
    assert isinstance(answer, Offer) and answer.priority == 5


# --- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "message"), [
    ({"priorty": 1, "qr_scale": 2}, r"unknown keys: priorty, qr_scale"),
    ({"priority": "high"}, r"priority must be an integer, not 'high'"),
    ({"priority": True}, r"priority must be an integer"),
    ({"qr_size": 0}, r"qr_size must be an integer from 1 to 40"),
    ({"qr_size": 2.5}, r"qr_size must be an integer from 1 to 40 .*not 2.5"),
])
def test_bad_configuration_is_refused_by_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PcSettings.from_table(table)


def test_plugin_refuses_a_wrong_table_and_registers_nothing_without_alipay(
        caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match=r"\[channels.pc\] has unknown keys: colour"):
        channels.pc.cashier_register_channels(config={"pc": {"colour": "blue"}}, gateway_url=GATEWAY_URL)
    with caplog.at_level(logging.INFO, logger="channels.pc"):
        assert channels.pc.cashier_register_channels(config={"pc": {"priority": 70}}, gateway_url=GATEWAY_URL) == []
    assert "no [channels.alipay] table" in caplog.text


# --- prepare ------------------------------------------------------------------------------------------


def test_redirect_uses_the_gateway_payment_id_and_its_expiry() -> None:
    alipay = StubAlipay()
    action = channel(alipay).prepare(payment(return_url="https://shop.example/paid"))
    assert action == Redirect("https://alipay.test/gateway.do?x=1", "<form></form>")
    assert alipay.calls == [("page_pay", {
        "out_trade_no": "pay_01HZZ", "total_amount_fen": 1999, "subject": "Oolong tea",
        "time_expire": NOW + timedelta(minutes=30), "return_url": "https://shop.example/paid",
        "notify_url": NOTIFY_URL})]
    channel(alipay).prepare(payment())
    assert alipay.calls[-1][1]["return_url"] is None


def test_scan_to_pay_gives_alipays_code_drawn_as_svg_and_png() -> None:
    alipay = StubAlipay()
    action = channel(alipay, qr_size=4).prepare(payment(scan_to_pay=True))
    assert isinstance(action, QrCode) and action.code == QR_URL
    (method, kwargs), = alipay.calls
    assert method == "precreate"
    # 04:30 UTC is 12:30 in Beijing.
    assert kwargs == {"out_trade_no": "pay_01HZZ", "total_amount_fen": 1999, "subject": "Oolong tea",
                      "notify_url": NOTIFY_URL, "extra_biz": {"time_expire": "2026-03-01 12:30:00"}}
    assert_png_shows(action.png, QR_URL, scale=4)
    assert_standalone_svg(action.svg, QR_URL, scale=4)


@pytest.mark.parametrize(("outcome", "words"), [
    (AlipayOutcome(Outcome.UNKNOWN, "UNAVAILABLE", "alipay_answer", "40004", "ACQ.SYSTEM_ERROR",
                   "Business Failed", "系统错误"),
     ["UNKNOWN", "Alipay answered 40004 Business Failed ACQ.SYSTEM_ERROR 系统错误", "pay_01HZZ"]),
    (AlipayOutcome(Outcome.FAILURE, "INVALID_ARGUMENT", "alipay_answer", "40004", "ACQ.INVALID_PARAMETER"),
     ["FAILURE", "40004", "ACQ.INVALID_PARAMETER"]),
    (AlipayOutcome(Outcome.UNKNOWN, "UNAVAILABLE", "timeout"), ["no answer from Alipay (timeout)"]),
])
def test_no_qr_code_without_a_success(outcome: AlipayOutcome, words: list[str]) -> None:
    pc = channel(StubAlipay(PrecreateResult(outcome)))
    with pytest.raises(PrecreateFailed, match="alipay.trade.precreate") as raised:
        pc.prepare(payment(scan_to_pay=True))
    for word in words:
        assert word in str(raised.value)


# --- the QR images ------------------------------------------------------------------------------------


def test_qr_images_of_a_long_sandbox_url() -> None:
    code = "http://127.0.0.1:54321/sandbox/checkout/2026030122001400000000000001"
    svg, png = render(code, 8)
    assert_png_shows(png, code, scale=8)
    assert_standalone_svg(svg, code, scale=8)


def assert_standalone_svg(svg: str, code: str, scale: int) -> None:
    root = ElementTree.fromstring(svg)  # well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    size = segno.make(code, error="m", micro=False).symbol_size(scale=scale, border=BORDER)
    assert (int(root.attrib["width"]), int(root.attrib["height"])) == size
    assert root.find("{http://www.w3.org/2000/svg}g/{http://www.w3.org/2000/svg}path") is not None
    for word in ("href", "<image", "<script", "url(", "http"):
        assert word not in svg.replace("http://www.w3.org/2000/svg", "")


def assert_png_shows(png: bytes, code: str, scale: int) -> None:
    """Decode the PNG by hand (1-bit greyscale, as segno writes it) and compare it module by module."""
    assert len(png) > 100 and png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    pos = 8
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + data)
        chunks[kind] = chunks.get(kind, b"") + data
        pos += 12 + length
    assert b"IEND" in chunks
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    matrix = segno.make(code, error="m", micro=False).matrix
    modules = len(matrix) + 2 * BORDER
    assert (width, height, depth, colour) == (modules * scale, modules * scale, 1, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + (width + 7) // 8
    assert len(raw) == stride * height
    for y, row in enumerate(matrix):
        line = raw[(y + BORDER) * scale * stride:][:stride]
        assert line[0] == 0  # filter "none"
        for x, dark in enumerate(row):
            px = (x + BORDER) * scale
            white = (line[1 + px // 8] >> (7 - px % 8)) & 1
            assert white != bool(dark), (x, y)
