"""The shared-link channel and its hosted page's choices: the offer table, the rail call per checkout
method, the browser a User-Agent names, the page's language, the checkout token."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import channels.shared_link
from channels.alipay.rail.outcomes import AlipayOutcome, Outcome
from channels.alipay.rail.results import PagePayRedirect, PrecreateResult
from channels.alipay.toolkit import PrecreateFailed
from channels.contract import (
    Channel,
    ClientInfo,
    HostedCheckout,
    HostedCheckoutProvider,
    NotificationReceiver,
    Offer,
    Platform,
    QrCode,
    Redirect,
    RouteRequest,
    Scenario,
)
from channels.shared_link.channel import (
    NoCheckoutToken,
    SharedLinkChannel,
    SharedLinkSettings,
)
from gateway.domain.ids import new_checkout_token
from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan
from gateway.domain.payments import Payment, PaymentState
from gateway.web.checkout import METHODS, TEXTS, Browser, detect_browser, money, negotiate_language
from tests.e2e.checkout_support import ALIPAY_APP, ANDROID_CHROME, DESKTOP_CHROME, IPHONE_SAFARI, WECHAT

MERCHANT = Merchant("m", "M", MerchantState.APPROVED, True, "food", SettlementPlan.T15,
                    datetime(2026, 1, 1, tzinfo=UTC))
NOW = datetime(2026, 3, 1, 4, 0, 0, tzinfo=UTC)
GATEWAY_URL = "https://cashier.example"
TOKEN = "0123456789ABCDEF"
OK = AlipayOutcome(Outcome.SUCCESS, "OK", "alipay_answer", code="10000", msg="Success")


class StubAlipay:
    def __init__(self, precreate_result: PrecreateResult | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.precreate_result = precreate_result or PrecreateResult(OK, "pay-1", "https://qr.alipay.com/bax1")
        self.closed = False

    def wap_pay(self, **kwargs: Any) -> PagePayRedirect:
        self.calls.append(("wap_pay", kwargs))
        return PagePayRedirect("https://alipay.test/gateway.do?wap=1", "<form></form>", kwargs["out_trade_no"])

    def page_pay(self, **kwargs: Any) -> PagePayRedirect:
        self.calls.append(("page_pay", kwargs))
        return PagePayRedirect("https://alipay.test/gateway.do?page=1", "<form></form>", kwargs["out_trade_no"])

    def precreate(self, **kwargs: Any) -> PrecreateResult:
        self.calls.append(("precreate", kwargs))
        return self.precreate_result

    def close(self) -> None:
        self.closed = True


class StubSettings:
    credentials = None
    seller_id = None

    def __init__(self, alipay: StubAlipay) -> None:
        self.alipay = alipay

    def client(self) -> StubAlipay:
        return self.alipay


def channel(alipay: StubAlipay | None = None, **table: Any) -> SharedLinkChannel:
    return SharedLinkChannel(StubSettings(alipay or StubAlipay()), SharedLinkSettings.from_table(table),  # type: ignore[arg-type]
                             GATEWAY_URL)


def payment(**fields: Any) -> Payment:
    base = Payment(
        id="pay_01HZZ", merchant_id="m", app_id="app-1", out_trade_no="order-7", amount=1999, currency="CNY",
        subject="Oolong tea", client=ClientInfo(Platform.MOBILE_BROWSER), scenario=Scenario.SHARED_LINK,
        channel="shared_link", action=None, state=PaymentState.PENDING, created_at=NOW, updated_at=NOW,
        expires_at=NOW + timedelta(minutes=30), checkout_token=TOKEN)
    return replace(base, **fields)


# --- offers -------------------------------------------------------------------------------------------


def test_satisfies_the_protocols() -> None:
    link = channel()
    assert isinstance(link, Channel) and isinstance(link, NotificationReceiver)
    assert isinstance(link, HostedCheckoutProvider)
    assert link.name == "shared_link" and link.actions == ("hosted_checkout",)
    assert set(link.platforms) == set(Platform) and set(link.scenarios) == set(Scenario)


@pytest.mark.parametrize(("platform", "scenario", "priority", "words"), [
    (Platform.PC_BROWSER, Scenario.SHARED_LINK, 90, "outside the platform"),
    (Platform.IOS_APP, Scenario.SHARED_LINK, 90, "outside the platform"),
    (Platform.MOBILE_BROWSER, Scenario.SHARED_LINK, 90, "outside the platform"),
    (Platform.MOBILE_BROWSER, Scenario.POST_PRODUCT_CARD, 50, "mobile browser"),
    (Platform.IN_APP_BROWSER, Scenario.SHOP_HOME, 50, "in-app browser"),
    (Platform.IOS_APP, Scenario.POST_PRODUCT_CARD, 20, "H5 fallback"),
    (Platform.ANDROID_APP, Scenario.SHOP_HOME, 20, "H5 fallback"),
    (Platform.HARMONYOS_APP, Scenario.OTHER, 20, "H5 fallback"),
    (Platform.PC_BROWSER, Scenario.SHOP_HOME, 20, "PC browser"),
])
def test_offer_table(platform: Platform, scenario: Scenario, priority: int, words: str) -> None:
    answer = channel().offer(RouteRequest(MERCHANT, 100, "CNY", ClientInfo(platform, "", "1.0"), scenario))
    assert isinstance(answer, Offer) and answer.priority == priority and words in answer.reason


# --- prepare and the rail actions --------------------------------------------------------------------


def test_prepare_hands_out_the_page_link_and_calls_no_rail() -> None:
    alipay = StubAlipay()
    action = channel(alipay).prepare(payment())
    assert action == HostedCheckout(f"{GATEWAY_URL}/pay/{TOKEN}", NOW + timedelta(minutes=30))
    assert alipay.calls == []
    with pytest.raises(NoCheckoutToken):
        channel().prepare(payment(checkout_token=""))


def test_wap_and_page_are_signed_redirects_back_to_the_page() -> None:
    alipay = StubAlipay()
    link = channel(alipay)
    back = f"{GATEWAY_URL}/pay/{TOKEN}/return"
    assert link.checkout_action(payment(), "wap", back) == Redirect("https://alipay.test/gateway.do?wap=1",
                                                                    "<form></form>")
    assert isinstance(link.checkout_action(payment(), "page", back), Redirect)
    (wap_name, wap), (page_name, page) = alipay.calls
    assert (wap_name, page_name) == ("wap_pay", "page_pay")
    for call in (wap, page):
        assert call["out_trade_no"] == "pay_01HZZ" and call["total_amount_fen"] == 1999
        assert call["return_url"] == back and call["notify_url"] == f"{GATEWAY_URL}/notify/shared_link/m"
        assert call["time_expire"] == NOW + timedelta(minutes=30)
    assert wap["quit_url"] == f"{GATEWAY_URL}/pay/{TOKEN}" and "quit_url" not in page


def test_qr_is_alipays_code_drawn_as_svg() -> None:
    alipay = StubAlipay()
    action = channel(alipay, qr_size=3).checkout_action(payment(), "qr", "ignored")
    assert isinstance(action, QrCode) and action.code == "https://qr.alipay.com/bax1"
    assert action.svg.startswith("<svg") and action.png.startswith(b"\x89PNG")
    name, call = alipay.calls[0]
    assert name == "precreate" and call["extra_biz"] == {"time_expire": "2026-03-01 12:30:00"}


def test_no_qr_code_from_alipay_raises_and_unknown_methods_are_refused() -> None:
    failed = AlipayOutcome(Outcome.FAILURE, "business", "alipay_answer", code="40004", msg="Business Failed",
                           sub_code="ACQ.ACCESS_FORBIDDEN")
    with pytest.raises(PrecreateFailed, match="ACQ.ACCESS_FORBIDDEN"):
        channel(StubAlipay(PrecreateResult(failed, None, None))).checkout_action(payment(), "qr", "x")
    with pytest.raises(ValueError, match="unknown checkout method 'app'"):
        channel().checkout_action(payment(), "app", "x")


def test_plugin_needs_the_alipay_table_and_closes_its_rail(caplog: pytest.LogCaptureFixture) -> None:
    assert channels.shared_link.cashier_register_channels(config={}, gateway_url=GATEWAY_URL) == []
    with pytest.raises(ValueError, match="unknown keys: qr"):
        channels.shared_link.cashier_register_channels(config={"shared_link": {"qr": 1}}, gateway_url=GATEWAY_URL)
    alipay = StubAlipay()
    channel(alipay).close()
    assert alipay.closed


# --- the page's choices ------------------------------------------------------------------------------


@pytest.mark.parametrize(("user_agent", "browser", "methods"), [
    (WECHAT, Browser.WECHAT, ()),
    (ALIPAY_APP, Browser.ALIPAY, ("wap",)),
    (IPHONE_SAFARI, Browser.MOBILE, ("wap",)),
    (ANDROID_CHROME, Browser.MOBILE, ("wap",)),
    (DESKTOP_CHROME, Browser.DESKTOP, ("page", "qr")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
     Browser.DESKTOP, ("page", "qr")),
    ("", Browser.DESKTOP, ("page", "qr")),
])
def test_the_user_agent_chooses_how_to_pay(user_agent: str, browser: Browser, methods: tuple[str, ...]) -> None:
    assert detect_browser(user_agent) is browser
    assert METHODS[browser] == methods


@pytest.mark.parametrize(("header", "override", "lang"), [
    ("", "", "zh"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "", "zh"),
    ("en-US,en;q=0.9", "", "en"),
    ("en-GB,en;q=0.9,zh-CN;q=0.5", "", "en"),
    ("zh-TW;q=0.4,en;q=0.6", "", "en"),
    ("fr-FR,fr;q=0.9", "", "zh"),
    ("fr-FR,en;q=0.5", "", "en"),
    ("EN", "", "en"),
    ("en;q=0", "", "zh"),
    ("en;q=abc,zh;q=0.1", "", "zh"),
    ("*", "", "zh"),
    ("zh-CN", "en", "en"),
    ("en", "zh", "zh"),
    ("en", "de", "en"),
])
def test_language_negotiation(header: str, override: str, lang: str) -> None:
    assert negotiate_language(header, override) == lang


def test_both_languages_say_everything() -> None:
    assert set(TEXTS["zh"]) == set(TEXTS["en"])


def test_money_is_formatted_exactly() -> None:
    assert money(4190, "CNY") == "¥41.90" and money(5, "CNY") == "¥0.05"
    assert money(10_000_000_000, "CNY") == "¥100000000.00" and money(1999, "USD") == "19.99 USD"


def test_checkout_tokens_are_16_unguessable_characters() -> None:
    tokens = {new_checkout_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{16}", t) for t in tokens)
