"""A real browser through the shared link: headless Chromium (Debian's `chromium` package, driven by
Playwright; no browser is ever downloaded) opens the hosted checkout page on a phone and on a desktop,
goes through the Alipay sandbox's checkout, pays, and lands on the gateway's success page; the payment is
SUCCEEDED over gRPC. On every page of ours it visits, every button and link is legible: its text against
its background meets WCAG AA. Screenshots go to test-output/screenshots/ at the repository root."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


def assert_no_inline_scripts_allowed(policy: str) -> None:
    """Only this response's nonce admits a script or a style: never 'unsafe-inline'."""
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    for name in ("script-src", "style-src"):
        assert "unsafe-inline" not in directives[name], policy
        assert re.fullmatch(r"'nonce-[A-Za-z0-9_-]{20,}'", directives[name]), policy


#: For every visible `.btn` and `a`: its text colour (its alpha times its and its ancestors' opacity) and the
#: colours behind it: the first ancestor-or-self background colour that is not transparent, or every colour
#: of a gradient met on the way (the worst of them counts); its font size and weight.
_TEXT_AND_BACKGROUND = """() => {
  const rgba = (text) => (text.match(/rgba?\\([^)]*\\)/g) || []).map((c) => {
    const v = c.replace(/[^\\d.,]/g, "").split(",").map(Number);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
  });
  const seen = [];
  for (const el of document.querySelectorAll(".btn, a")) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || !el.textContent.trim()) continue;
    const style = getComputedStyle(el);
    let opacity = 1, backgrounds = null;
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const s = getComputedStyle(node);
      opacity *= Number(s.opacity);
      if (backgrounds) continue;
      const gradient = rgba(s.backgroundImage);
      const color = rgba(s.backgroundColor)[0];
      if (gradient.length) backgrounds = gradient;
      else if (color && color[3] > 0) backgrounds = [color];
    }
    const fg = rgba(style.color)[0];
    seen.push({text: el.textContent.trim().slice(0, 40), html: el.outerHTML.slice(0, 80),
               fg: [fg[0], fg[1], fg[2], fg[3] * opacity], backgrounds: backgrounds || [[255, 255, 255, 1]],
               size: parseFloat(style.fontSize), weight: Number(style.fontWeight) || 400});
  }
  return seen;
}"""


def _luminance(rgb: tuple[float, float, float]) -> float:
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(fg: list[float], bg: list[float]) -> float:
    alpha = fg[3]
    text = tuple(fg[i] * alpha + bg[i] * (1 - alpha) for i in range(3))  # blended over its background
    light, dark = sorted((_luminance(text), _luminance((bg[0], bg[1], bg[2]))), reverse=True)  # type: ignore[arg-type]
    return (light + 0.05) / (dark + 0.05)


def assert_legible(page: Page, where: str) -> None:
    """Every visible button and link meets WCAG AA: 4.5:1, or 3:1 for large text (24px, or 18.66px bold)."""
    elements = page.evaluate(_TEXT_AND_BACKGROUND)
    assert elements, f"{where}: no button or link seen"
    failures = []
    for el in elements:
        large = el["size"] >= 24 or (el["size"] >= 18.66 and el["weight"] >= 700)
        ratio = min(_contrast(el["fg"], bg) for bg in el["backgrounds"])
        if ratio < (3.0 if large else 4.5):
            failures.append(f"{el['html']!r}: {ratio:.2f}:1, text {el['fg']} on {el['backgrounds']}")
    assert not failures, f"{where}: " + "\n".join(failures)


def pay_through_the_shared_link(chromium: Browser, app: CashierClient, gateway: RunningGateway,
                                device: dict, client: pb.Client, button: str, name: str) -> None:  # type: ignore[type-arg]
    payment = shared_link(app, client=client, return_url="https://shop.example/orders/41")
    assert payment.channel == "shared_link"
    link = payment.action.hosted_checkout.url
    context = chromium.new_context(locale="zh-CN", **device)
    try:
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))

        violations: list[str] = []
        page.on("console", lambda message: violations.append(message.text)
                if "Content Security Policy" in message.text else None)
        opened = page.goto(link)
        assert opened is not None
        assert_no_inline_scripts_allowed(opened.headers["content-security-policy"])
        assert page.locator("#amount").inner_text().replace("\n", "").startswith("¥41.90")
        assert page.locator("#merchant").inner_text() == "Tea House 茶舍"
        # The page's own scripts run (the countdown ticks) and its styles apply, under that policy.
        page.wait_for_function("document.getElementById('left').textContent !== '--:--'")
        assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
        assert violations == []
        screenshot(page, f"checkout-{name}")
        assert_legible(page, f"checkout ({name})")
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
        assert page.locator("a.btn.primary").is_visible()  # back to the merchant
        assert_legible(page, f"payment successful ({name})")
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
    wechat = chromium.new_context(locale="zh-CN", permissions=["clipboard-read", "clipboard-write"],
                                  **{**PHONE, "user_agent": WECHAT})
    try:
        page = wechat.new_page()
        opened = page.goto(link)
        assert opened is not None
        assert_no_inline_scripts_allowed(opened.headers["content-security-policy"])
        assert page.locator("#open-in-browser").is_visible()
        # The copy-link button's script runs under the nonce: clicking it copies the link, then says "copied"
        # (the clipboard answers asynchronously: wait for the label, do not read it at once).
        page.locator("#copy").click()
        expect(page.locator("#copy")).to_have_text("已复制", timeout=5000)
        assert page.evaluate("navigator.clipboard.readText()") == link
        assert page.locator('button[name="method"]').count() == 0
        screenshot(page, "wechat-phone")
        assert_legible(page, "checkout (WeChat)")
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
        assert_legible(page, "scan to pay")
        # The error pages a buyer can reach: a method the page never offered, a link that does not exist.
        page.goto(link)
        page.evaluate("document.querySelector('button[name=\"method\"]').value = 'carrier-pigeon'")
        page.locator('button[name="method"]').first.click()
        page.locator("a.btn.primary").wait_for()
        assert_legible(page, "error: unknown method")
        page.goto(link.rsplit("/", 1)[0] + "/no-such-link")
        assert_legible(page, "error: unknown link")
    finally:
        desktop.close()
