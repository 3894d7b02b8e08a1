"""A real browser through the shared link: headless Chromium (Debian's `chromium` package, driven by
Playwright; no browser is ever downloaded) opens the hosted checkout page on a phone and on a desktop,
goes through the Alipay sandbox's checkout, pays, and lands on the gateway's success page; the payment is
SUCCEEDED over gRPC. Screenshots go to test-output/screenshots/ at the repository root."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.runtime import RunningGateway
from tests.e2e.checkout_support import (
    CHANNELS,
    DESKTOP_CHROME,
    IPHONE_SAFARI,
    WECHAT,
    alipay_and_gateway,
    shared_link,
    trading_app,
    wait_for_state,
)
from tests.support import ROOT, CashierClient

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "test-output" / "screenshots"

PHONE = {"viewport": {"width": 390, "height": 844}, "user_agent": IPHONE_SAFARI, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}, "user_agent": DESKTOP_CHROME}


@pytest.fixture
def world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[LocalAlipay, RunningGateway]]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", CHANNELS)
    with alipay_and_gateway(tmp_path, database_url) as both:
        yield both


@pytest.fixture
def app(world: tuple[LocalAlipay, RunningGateway]) -> Iterator[CashierClient]:
    with trading_app(world[1]) as client:
        yield client


@pytest.fixture
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package "
                    "(apt-get install chromium; .ci/run does it). Playwright never downloads a browser here.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def pay_through_the_shared_link(chromium: Browser, app: CashierClient, gateway: RunningGateway,
                                device: dict, client: pb.Client, button: str, name: str) -> None:  # type: ignore[type-arg]
    payment = shared_link(app, client=client)
    assert payment.channel == "shared_link"
    link = payment.action.hosted_checkout.url
    context = chromium.new_context(locale="zh-CN", **device)
    try:
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))

        page.goto(link)
        assert page.locator("#amount").inner_text().replace("\n", "").startswith("¥41.90")
        assert page.locator("#merchant").inner_text() == "Tea House 茶舍"
        page.wait_for_function("document.getElementById('left').textContent !== '--:--'")
        screenshot(page, f"checkout-{name}")
        # Everything the page needed came from the gateway itself.
        origin = f"{urlsplit(link).scheme}://{urlsplit(link).netloc}/"
        assert requested and all(url.startswith(origin) for url in requested), requested

        page.locator(f'button[name="method"][value="{button}"]').click()
        page.wait_for_url(re.compile(r".*/sandbox/checkout/\w+$"))
        assert "41.90" in page.content()
        screenshot(page, f"alipay-sandbox-{name}")
        page.get_by_role("button", name=re.compile("确认付款")).click()

        # Back on the gateway: "confirming…" until Alipay's notification lands, then success by itself.
        page.wait_for_url(re.compile(re.escape(link) + r"(/return\?.*)?$"))
        page.locator('[data-state="paid"]').wait_for(timeout=15_000)
        assert "支付成功" in page.content()
        screenshot(page, f"success-{name}")
    finally:
        context.close()
    paid = wait_for_state(app, payment, pb.PAYMENT_STATE_SUCCEEDED)
    assert paid.state == pb.PAYMENT_STATE_SUCCEEDED


def test_pay_a_shared_link_on_a_phone(chromium: Browser, app: CashierClient,
                                      world: tuple[LocalAlipay, RunningGateway]) -> None:
    pay_through_the_shared_link(
        chromium, app, world[1], PHONE, pb.Client(platform=pb.PLATFORM_MOBILE_BROWSER, user_agent=IPHONE_SAFARI),
        "wap", "phone")


def test_pay_a_shared_link_on_a_desktop(chromium: Browser, app: CashierClient,
                                        world: tuple[LocalAlipay, RunningGateway]) -> None:
    pay_through_the_shared_link(
        chromium, app, world[1], DESKTOP, pb.Client(platform=pb.PLATFORM_PC_BROWSER, user_agent=DESKTOP_CHROME),
        "page", "desktop")


def test_wechat_hint_and_scan_to_pay_views(chromium: Browser, app: CashierClient) -> None:
    link = shared_link(app).action.hosted_checkout.url
    wechat = chromium.new_context(locale="zh-CN", **{**PHONE, "user_agent": WECHAT})
    try:
        page = wechat.new_page()
        page.goto(link)
        assert page.locator("#open-in-browser").is_visible()
        assert page.locator('button[name="method"]').count() == 0
        screenshot(page, "wechat-phone")
    finally:
        wechat.close()
    desktop = chromium.new_context(locale="en-US", extra_http_headers={"accept-language": "en-US,en;q=0.9"},
                                   **DESKTOP)
    try:
        page = desktop.new_page()
        page.goto(link)
        assert page.locator("html").get_attribute("lang") == "en"
        page.locator('button[name="method"][value="qr"]').click()
        page.locator("#qr svg").wait_for()
        screenshot(page, "qr-desktop")
    finally:
        desktop.close()
