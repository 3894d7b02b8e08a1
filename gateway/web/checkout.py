"""The hosted checkout page behind a shared link: `/pay/{token}` and its companions.

    GET  /pay/{token}           the checkout page (or the paid / expired view), chosen by the User-Agent
    POST /pay/{token}/go        method=wap|page|qr: the channel's rail action (303 to Alipay, or a QR page)
    GET  /pay/{token}/return    where Alipay sends the buyer back: paid, or "confirming…" until notified
    GET  /pay/{token}/status    {"state": "PENDING", "expired": false}: what the open pages poll

Everything the pages need (CSS, a few lines of JS, the QR code as inline SVG) is in the response itself;
nothing is fetched from another site. Simplified Chinese by default, English when the browser prefers it
(or `?lang=en`). The token is the buyer's only credential: an unknown one gets the same 404 page whether or
not a payment exists, and no page ever shows a stack trace or anything about the rail's keys.
"""

from __future__ import annotations

import enum
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from channels.contract.actions import QrCode, Redirect
from channels.contract.protocol import CHECKOUT_METHODS, HostedCheckoutProvider
from gateway.domain.errors import NotFound
from gateway.domain.merchants import Merchant
from gateway.domain.money import format_minor
from gateway.domain.payments import Payment, PaymentState
from gateway.metrics import Metrics
from gateway.service.channel_views import payment_view
from gateway.service.services import Services
from gateway.web.bodies import BodyTooLarge, read_body

log = logging.getLogger("cashier.checkout")

BEIJING = timezone(timedelta(hours=8), "UTC+8")
POLL_MILLISECONDS = 1500
MAX_FORM = 4 * 1024
_TOKEN = re.compile(r"[0-9A-Za-z_-]{8,64}")
_PAID = (PaymentState.SUCCEEDED, PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED)

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

# The pages load nothing from anywhere: styles and scripts are inline, the QR code is inline SVG, and the
# only requests they make are the status polls to this gateway. No Referer leaks the token to the rail.
# Only the <script> and <style> elements the template wrote carry this response's nonce, so markup that
# slipped into a page (an order's subject, say) could neither run a script nor restyle it; there are no
# style attributes or event-handler attributes for a nonce-less policy to break.
_CSP = ("default-src 'none'; style-src {source}; script-src {source}; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP.format(source="'none'"),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def page_headers(nonce: str) -> dict[str, str]:
    """SECURITY_HEADERS for a page whose own inline <script> and <style> elements carry `nonce`."""
    return {**SECURITY_HEADERS,
            "Content-Security-Policy": _CSP.format(source=f"'nonce-{nonce}'")}


# --- the buyer's browser and language -------------------------------------------------------------------


class Browser(enum.Enum):
    WECHAT = "wechat"  # WeChat's built-in browser blocks Alipay's pages: the buyer must open another browser
    ALIPAY = "alipay"  # inside the Alipay app: its own in-app (wap) flow
    MOBILE = "mobile"  # any other phone or tablet browser: Alipay's mobile web checkout (wap)
    DESKTOP = "desktop"  # Alipay's desktop checkout (page pay), or a QR code to scan with a phone


_MOBILE = re.compile(r"Mobile|Android|iPhone|iPad|iPod|HarmonyOS|OpenHarmony|Windows Phone|Opera Mini",
                     re.IGNORECASE)

#: What each browser may do, first the one its pay button offers.
METHODS: dict[Browser, tuple[str, ...]] = {
    Browser.WECHAT: (),
    Browser.ALIPAY: ("wap",),
    Browser.MOBILE: ("wap",),
    Browser.DESKTOP: ("page", "qr"),
}


def detect_browser(user_agent: str) -> Browser:
    if "MicroMessenger" in user_agent:
        return Browser.WECHAT
    if "AlipayClient" in user_agent:
        return Browser.ALIPAY
    if _MOBILE.search(user_agent):
        return Browser.MOBILE
    return Browser.DESKTOP


def negotiate_language(accept_language: str, override: str = "") -> str:
    """"en" when asked for (`?lang=en`) or when the browser ranks English above Chinese; else "zh"."""
    if override in TEXTS:
        return override
    best, best_q = "zh", 0.0
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if lang in TEXTS and q > best_q:
            best, best_q = lang, q
        elif lang == "*" and q > best_q and position == 0:
            best, best_q = "zh", q
    return best


TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN",
        "checkout": "收银台",
        "pay_to": "付款给",
        "choose": "选择付款方式",
        "updates": "付款后本页面会自动更新",
        "back_to_merchant": "返回商家",
        "order": "订单",
        "order_no": "订单号",
        "items": "商品",
        "total": "合计",
        "expires": "请在 {time} 前完成支付",
        "remaining": "剩余",
        "pay_wap": "支付宝付款",
        "pay_in_alipay": "在支付宝中付款",
        "pay_page": "支付宝网页付款",
        "pay_qr": "手机扫码付款",
        "qr_hint": "打开手机支付宝，扫一扫付款",
        "qr_other": "在本电脑上付款",
        "wechat_title": "请在浏览器中打开",
        "wechat_hint": "微信内无法使用支付宝付款。请点击右上角「···」，选择「在浏览器打开」，然后在浏览器中完成支付。",
        "copy_link": "复制链接",
        "copied": "已复制",
        "paid_title": "支付成功",
        "paid_hint": "商家已收到您的付款，可以关闭本页面。",
        "confirming_title": "正在确认支付结果…",
        "confirming_hint": "支付宝正在通知商家，通常只需几秒钟。本页面会自动更新。",
        "refresh": "刷新状态",
        "back_to_checkout": "返回收银台",
        "expired_title": "链接已失效",
        "expired_hint": "该订单已超过支付时限或已关闭，无法继续付款。如需购买，请联系商家重新下单。",
        "failed_title": "订单无法支付",
        "not_found_title": "找不到该付款链接",
        "not_found_hint": "链接可能不完整或有误。请检查链接，或联系发给您链接的商家。",
        "error_title": "暂时无法发起支付",
        "error_hint": "支付渠道暂时没有响应，您的账户未被扣款。请稍后重试。",
        "bad_method_title": "无法使用该支付方式",
        "bad_method_hint": "请返回收银台，选择页面上提供的付款方式。",
        "try_again": "重试",
        "secure": "由统一收银台提供 · 支付宝安全支付",
        "switch_lang": "English",
        "switch_to": "en",
        "quantity": "数量",
    },
    "en": {
        "html_lang": "en",
        "checkout": "Checkout",
        "pay_to": "Pay to",
        "choose": "How would you like to pay?",
        "updates": "This page updates by itself once you have paid",
        "back_to_merchant": "Back to the merchant",
        "order": "Order",
        "order_no": "Order no.",
        "items": "Items",
        "total": "Total",
        "expires": "Please pay before {time}",
        "remaining": "Time left",
        "pay_wap": "Pay with Alipay",
        "pay_in_alipay": "Pay in Alipay",
        "pay_page": "Pay with Alipay on this computer",
        "pay_qr": "Scan with your phone",
        "qr_hint": "Open Alipay on your phone and scan this code to pay",
        "qr_other": "Pay on this computer instead",
        "wechat_title": "Open this page in your browser",
        "wechat_hint": "Alipay cannot be used inside WeChat. Tap \u201c\u00b7\u00b7\u00b7\u201d in the top right "
                       "corner, choose \u201cOpen in Browser\u201d, and pay there.",
        "copy_link": "Copy link",
        "copied": "Copied",
        "paid_title": "Payment successful",
        "paid_hint": "The merchant has received your payment. You can close this page.",
        "confirming_title": "Confirming your payment\u2026",
        "confirming_hint": "Alipay is notifying the merchant; this usually takes a few seconds. "
                           "This page updates by itself.",
        "refresh": "Refresh status",
        "back_to_checkout": "Back to checkout",
        "expired_title": "This payment link has expired",
        "expired_hint": "The order passed its payment deadline or was closed, so it can no longer be paid. "
                        "Please ask the merchant for a new order.",
        "failed_title": "This order cannot be paid",
        "not_found_title": "Payment link not found",
        "not_found_hint": "The link may be incomplete or mistyped. Check it, or ask the merchant who sent it.",
        "error_title": "Payment could not be started",
        "error_hint": "The payment channel did not respond. You have not been charged. Please try again "
                      "in a moment.",
        "bad_method_title": "This payment method is not available",
        "bad_method_hint": "Go back to the checkout and choose one of the methods it offers.",
        "try_again": "Try again",
        "secure": "Unified Cashier \u00b7 secured by Alipay",
        "switch_lang": "\u4e2d\u6587",
        "switch_to": "zh",
        "quantity": "Qty",
    },
}


# --- what the templates show ----------------------------------------------------------------------------


def money(amount: int, currency: str) -> str:
    """"¥25.90" for CNY, "25.90 USD" otherwise: format_minor's exact digits, never a float."""
    number, _, code = format_minor(amount, currency).partition(" ")
    return f"\u00a5{number}" if code == "CNY" else f"{number} {code}"


@dataclass(frozen=True)
class Item:
    name: str
    quantity: int
    unit_price: str
    total: str


def _summary(payment: Payment, merchant: Merchant, t: dict[str, str]) -> dict[str, Any]:
    number, _, code = format_minor(payment.amount, payment.currency).partition(" ")
    expires = payment.expires_at.astimezone(BEIJING)
    return {
        "merchant": merchant.display_name,
        "subject": payment.subject,
        "out_trade_no": payment.out_trade_no,
        "amount_number": number,
        "amount_symbol": "\u00a5" if code == "CNY" else "",
        "currency": code,
        "amount": money(payment.amount, payment.currency),
        "items": [Item(i.name, i.quantity, money(i.unit_price, payment.currency), money(i.total, payment.currency))
                  for i in payment.line_items],
        "expires_text": t["expires"].format(time=expires.strftime("%Y-%m-%d %H:%M") + " (UTC+8)"),
        "expires_ms": int(payment.expires_at.timestamp() * 1000),
        # The trading app's own page for this order, offered once paid (only a web address, never a script).
        "merchant_url": payment.return_url if payment.return_url.startswith(("https://", "http://")) else "",
    }


class CheckoutPages:
    """The routes, bound to one gateway's services; `public_url` is where buyers reach this face."""

    def __init__(self, services: Services, metrics: Metrics, public_url: str):
        self.services = services
        self.metrics = metrics
        self.public_url = public_url

    def routes(self) -> list[Route]:
        return [
            Route("/pay/{token}", self.page, methods=["GET"]),
            Route("/pay/{token}/go", self.go, methods=["POST"]),
            Route("/pay/{token}/return", self.returned, methods=["GET"]),
            Route("/pay/{token}/status", self.status, methods=["GET"]),
        ]

    # -- helpers -----------------------------------------------------------------------------------------

    def _render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        lang = negotiate_language(request.headers.get("accept-language", ""), request.query_params.get("lang", ""))
        t = TEXTS[lang]
        token = request.path_params.get("token", "")
        forced = request.query_params.get("lang", "") in TEXTS
        nonce = secrets.token_urlsafe(18)  # fresh for every response: a nonce seen once is worth nothing
        html = _TEMPLATES.get_template(name).render(
            t=t, lang=lang, token=quote(token, safe=""), poll_ms=POLL_MILLISECONDS, nonce=nonce,
            lang_query=f"?lang={lang}" if forced else "", switch_url=f"{request.url.path}?lang={t['switch_to']}",
            **context)
        return HTMLResponse(html, status_code=status_code, headers=page_headers(nonce))

    def _lang(self, request: Request) -> dict[str, str]:
        lang = negotiate_language(request.headers.get("accept-language", ""), request.query_params.get("lang", ""))
        return TEXTS[lang]

    async def _load(self, token: str) -> tuple[Payment, Merchant, HostedCheckoutProvider] | None:
        if not _TOKEN.fullmatch(token):
            return None
        try:
            payment, merchant = await run_in_threadpool(self.services.payments.for_checkout, token)
        except NotFound:
            return None
        # Only a channel that hands out hosted checkout links has a page; other payments' tokens stay unused.
        # A runtime-checkable Protocol, for isinstance; mypy wants a concrete class (python/mypy#4717).
        channel = self.services.capable(payment.channel, HostedCheckoutProvider)  # type: ignore[type-abstract]
        if channel is None:
            return None
        return payment, merchant, channel

    def _now(self) -> datetime:
        return self.services.payments.clock()

    def _not_found(self, request: Request) -> HTMLResponse:
        t = self._lang(request)
        return self._render(request, "message.html", 404, kind="not_found", title=t["not_found_title"],
                            hint=t["not_found_hint"])

    def _final(self, request: Request, payment: Payment, merchant: Merchant) -> HTMLResponse | None:
        """The page for a payment that can no longer be paid here (paid, or expired/closed), else None."""
        t = self._lang(request)
        summary = _summary(payment, merchant, t)
        if payment.state in _PAID:
            return self._render(request, "result.html", 200, paid=True, **summary)
        if payment.state is PaymentState.PENDING and not payment.is_expired(self._now()):
            return None
        title = t["failed_title"] if payment.state is PaymentState.FAILED else t["expired_title"]
        return self._render(request, "message.html", 410, kind="expired", title=title, hint=t["expired_hint"],
                            **summary)

    # -- routes ------------------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        loaded = await self._load(request.path_params["token"])
        if loaded is None:
            return self._not_found(request)
        payment, merchant, _channel = loaded
        final = self._final(request, payment, merchant)
        if final is not None:
            return final
        browser = detect_browser(request.headers.get("user-agent", ""))
        t = self._lang(request)
        return self._render(request, "checkout.html", browser=browser.value, methods=METHODS[browser],
                            page_url=f"{self.public_url}/pay/{payment.checkout_token}",
                            **_summary(payment, merchant, t))

    async def go(self, request: Request) -> Response:
        token = request.path_params["token"]
        loaded = await self._load(token)
        if loaded is None:
            return self._not_found(request)
        payment, merchant, channel = loaded
        if payment.state in _PAID:
            return RedirectResponse(f"/pay/{quote(token, safe='')}", status_code=303, headers=SECURITY_HEADERS)
        final = self._final(request, payment, merchant)
        if final is not None:
            return final
        t = self._lang(request)
        try:
            body = await read_body(request, MAX_FORM)  # a pay button's form is a few bytes; buffer no more
        except BodyTooLarge:
            body = b""  # answered with the page below; the rest is dropped (gateway/web/server.py bounds that)
        method = parse_qs(body.decode("utf-8", errors="replace")).get("method", [""])[0]
        if method not in CHECKOUT_METHODS:
            return self._render(request, "message.html", 400, kind="error", title=t["bad_method_title"],
                                hint=t["bad_method_hint"], **_summary(payment, merchant, t))
        return_url = f"{self.public_url}/pay/{payment.checkout_token}/return"
        started = time.perf_counter()
        try:
            action = await run_in_threadpool(channel.checkout_action, payment_view(payment), method, return_url)
            if not isinstance(action, Redirect | QrCode):
                raise TypeError(f"checkout_action returned {type(action).__name__}")
        except Exception:
            self.metrics.observe_channel(payment.channel, "checkout_action", "error",
                                                 time.perf_counter() - started)
            log.exception("channel %s failed to start the hosted checkout of payment %s (%s)",
                          payment.channel, payment.id, method,
                          extra={"channel": payment.channel, "payment": payment.id, "method": method})
            return self._render(request, "message.html", 502, kind="error", title=t["error_title"],
                                hint=t["error_hint"], retry=True, **_summary(payment, merchant, t))
        self.metrics.observe_channel(payment.channel, "checkout_action", "ok", time.perf_counter() - started)
        if isinstance(action, Redirect):
            return RedirectResponse(action.url, status_code=303, headers=SECURITY_HEADERS)
        # segno drew this SVG from the code Alipay returned: no scripts, no external references.
        return self._render(request, "qr.html", qr_svg=Markup(action.svg), **_summary(payment, merchant, t))

    async def returned(self, request: Request) -> Response:
        loaded = await self._load(request.path_params["token"])
        if loaded is None:
            return self._not_found(request)
        payment, merchant, _channel = loaded
        t = self._lang(request)
        summary = _summary(payment, merchant, t)
        if payment.state in _PAID:
            return self._render(request, "result.html", paid=True, **summary)
        if payment.state is PaymentState.PENDING:
            # Alipay sends the buyer back at once; its notification may still be on its way.
            return self._render(request, "result.html", paid=False, **summary)
        final = self._final(request, payment, merchant)
        assert final is not None
        return final

    async def status(self, request: Request) -> Response:
        loaded = await self._load(request.path_params["token"])
        if loaded is None:
            return JSONResponse({"state": "NOT_FOUND"}, status_code=404, headers={"Cache-Control": "no-store"})
        payment = loaded[0]
        return JSONResponse({"state": payment.state.value, "expired": payment.is_expired(self._now())},
                            headers={"Cache-Control": "no-store"})
