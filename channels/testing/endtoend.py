"""The kit's end-to-end purchase: a real gateway on free ports (SQLite in a temporary directory) loading only
the plugin under test, a merchant and an app seeded through the service layer, and then, over real gRPC,
CreatePayment pinned to the channel, the buyer paying at the rail, the rail's notification turning the payment
SUCCEEDED, and a refund. Each step is recorded, never raised: checks.py reports each as its own test.

The kit pays only on the Alipay sandbox it started itself (channels/testing/alipay.py), for the actions the
sandbox understands (AppPay, Redirect, QrCode, and HostedCheckout through the gateway's checkout page); anything else is skipped, saying why.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import refund_pb2 as rpb
from channels.contract import Channel, RouteRequest
from gateway.api.convert import PLATFORM_OUT, SCENARIO_OUT
from gateway.config import load_settings
from gateway.runtime import RunningGateway, start
from gateway.service.admin import NewMerchant

#: How long the rail's notification may take to turn the payment SUCCEEDED (the sandbox sends it at once).
NOTIFICATION_SECONDS = 15.0
#: Every call to the gateway or the sandbox is bounded: a hung channel fails the step instead of the run.
CALL_SECONDS = 20.0
APP_ID = "kit-app"
Metadata = tuple[tuple[str, str | bytes], ...]
CLOSED_REFUND_STATES = {rpb.REFUND_STATE_PENDING: "PENDING", rpb.REFUND_STATE_SUCCEEDED: "SUCCEEDED",
                        rpb.REFUND_STATE_FAILED: "FAILED"}


@dataclass
class Step:
    """One step's result: ok, or what went wrong (failed), or why it was not run (skipped)."""

    ok: bool = False
    failed: str = ""
    skipped: str = ""
    detail: str = ""


@dataclass
class Purchase:
    created: Step = field(default_factory=Step)
    paid: Step = field(default_factory=Step)
    refunded: Step = field(default_factory=Step)


@contextmanager
def _only_plugin(entry_point: str) -> Iterator[None]:
    """The gateway reads CASHIER_LOAD_CHANNELS at start-up: load the plugin under test and nothing else (other
    installed channels would compete in routing and could need configuration the author never gave)."""
    before = os.environ.get("CASHIER_LOAD_CHANNELS")
    os.environ["CASHIER_LOAD_CHANNELS"] = entry_point
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CASHIER_LOAD_CHANNELS", None)
        else:
            os.environ["CASHIER_LOAD_CHANNELS"] = before


def start_gateway(entry_point: str, config: dict[str, Any], channel: str, workdir: Path) -> RunningGateway:
    """The gateway as `cashier serve` would run it with the author's [channels.*] and [plugins.*] tables, one
    routing rule pinning `channel`, on SQLite; no background jobs (the purchase needs none)."""
    overrides: dict[str, Any] = {
        "server": {"grpc": "127.0.0.1:0", "http": "127.0.0.1:0", "grace_seconds": 1, "threads": 8},
        "database": {"url": f"sqlite:///{workdir / 'cashier.db'}", "pool_size": 4},
        "logging": {"level": "WARNING"},
        "channels": config.get("channels", {}),
        "plugins": config.get("plugins", {}),
        "routing": {"rules": [{"name": "kit-pin", "pin": channel}]},
    }
    settings = load_settings(None, env={}, overrides=overrides)
    with _only_plugin(entry_point):
        return start(settings, housekeeping=False)


def purchase(entry_point: str, config: dict[str, Any], channel: Channel, request: RouteRequest,
             alipay_url: str | None, refunds: bool, workdir: Path) -> Purchase:
    result = Purchase()
    try:
        running = start_gateway(entry_point, config, channel.name, workdir)
    except Exception as exc:  # noqa: BLE001 - reported as the create step's failure
        result.created.failed = (f"the gateway did not start with this channel and configuration: "
                                 f"{type(exc).__name__}: {exc}")
        return result
    try:
        with grpc.insecure_channel(running.grpc_target) as wire:
            _run(running, svc_grpc.CashierServiceStub(wire), channel, request, alipay_url, refunds, result)
    finally:
        running.stop(0.5)
    return result


def _run(running: RunningGateway, stub: svc_grpc.CashierServiceStub, channel: Channel, request: RouteRequest,
         alipay_url: str | None, refunds: bool, result: Purchase) -> None:
    merchant = request.merchant
    admin = running.gateway.admin
    admin.create_merchant(NewMerchant(merchant.id, merchant.display_name, business_category=merchant.business_category
                                      or "general"))
    key = admin.create_app(APP_ID, "Conformance kit app").key
    admin.authorize_app(APP_ID, merchant.id)
    metadata: Metadata = (("authorization", f"Bearer {key}"),)
    client = request.client
    create = svc.CreatePaymentRequest(
        parent=f"merchants/{merchant.id}", out_trade_no=f"kit-{secrets.token_hex(8)}", amount=request.amount,
        currency_code=request.currency, subject="Conformance kit order",
        client=pb.Client(platform=PLATFORM_OUT[client.platform], app_name=client.app_name,
                         app_version=client.app_version, user_agent=client.user_agent),
        scenario=SCENARIO_OUT[request.scenario], scan_to_pay=request.scan_to_pay)
    case = (f"{client.platform.value} {client.app_version!r}, {request.scenario.value}, {request.amount} fen"
            f"{', scan to pay' if request.scan_to_pay else ''}")
    try:
        payment = stub.CreatePayment(create, metadata=metadata, timeout=CALL_SECONDS).payment
    except grpc.RpcError as exc:
        result.created.failed = (f"CreatePayment ({case}) pinned to {channel.name!r} failed: "
                                 f"{exc.code().name}: {exc.details()}")
        return
    if payment.channel != channel.name:
        result.created.failed = f"CreatePayment ({case}) went to {payment.channel!r}, not {channel.name!r}"
        return
    kind = payment.action.WhichOneof("kind")
    result.created = Step(ok=True, detail=f"{payment.name} ({case}): {kind}")

    if alipay_url is None:
        result.paid.skipped = ("not run: the kit pays only through the Alipay sandbox it starts itself, for "
                               "channels built on channels.alipay.toolkit; this channel uses another rail, or the "
                               "configuration names its own [channels.alipay]")
    else:
        problem = _pay_at_sandbox(alipay_url, payment)
        if problem.startswith("not run"):
            result.paid.skipped = problem
        elif problem:
            result.paid.failed = problem
        else:
            expected = f"{running.http_url}/notify/{channel.name}/{request.merchant.id}"
            paid, why = _wait_until_paid(stub, metadata, payment.name, alipay_url, expected)
            if paid:
                result.paid = Step(ok=True, detail=f"{payment.name} SUCCEEDED")
            else:
                result.paid.failed = f"paid at the sandbox, but {payment.name} did not become SUCCEEDED: {why}"

    if not refunds:
        result.refunded.skipped = f"not applicable: {channel.name!r} declares no refunds"
    elif not result.paid.ok:
        result.refunded.skipped = "not run: the payment was not paid (see test_end_to_end_paid_notification)"
    else:
        refund = svc.RefundPaymentRequest(parent=payment.name, out_refund_no="kit-refund-1", amount=request.amount,
                                          reason="conformance kit")
        try:
            answer = stub.RefundPayment(refund, metadata=metadata, timeout=CALL_SECONDS).refund
        except grpc.RpcError as exc:
            result.refunded.failed = f"RefundPayment of {payment.name} failed: {exc.code().name}: {exc.details()}"
            return
        state = CLOSED_REFUND_STATES.get(answer.state)
        if state is None:
            result.refunded.failed = (f"RefundPayment answered state {answer.state}, outside the closed refund "
                                      "states (PENDING, SUCCEEDED, FAILED)")
        else:
            result.refunded = Step(ok=True, detail=f"refund {answer.name}: {state}")


def _pay_at_sandbox(alipay_url: str, payment: pb.Payment) -> str:
    """Pay as a buyer would; "" when paid, else what went wrong (or "not run: ..." when the kit cannot)."""
    action = payment.action
    kind = action.WhichOneof("kind")
    payment_id = payment.name.rsplit("/", 1)[1]
    with httpx.Client(timeout=CALL_SECONDS) as http:
        if kind == "app_pay":
            # What the Alipay SDK does with the order string: the sandbox verifies it and the buyer pays.
            answer = http.post(f"{alipay_url}/sandbox/app-pay",
                               json={"order_string": action.app_pay.order_string, "pay": True})
            return "" if answer.status_code == 200 else _refused("the app-pay order string", answer)
        if kind == "redirect":
            # The buyer's browser follows the link to the sandbox's checkout page, and pays there.
            page = http.get(action.redirect.url, follow_redirects=True)
            if page.status_code != 200 or not urlsplit(str(page.url)).path.startswith("/sandbox/checkout/"):
                return _refused("the redirect", page)
            paid = http.post(f"{page.url}/pay", data={"buyer_logon_id": "kit-buyer@example.com"})
            return "" if paid.status_code in (200, 303) else _refused("paying on its checkout page", paid)
        if kind == "hosted_checkout":
            # The buyer opens the gateway's own checkout page, presses its first pay button, and follows it.
            link, agent = action.hosted_checkout.url, {"user-agent": payment.client.user_agent or "Mozilla/5.0"}
            shown = http.get(link, headers=agent)
            methods = re.findall(r'name="method" value="(\w+)"', shown.text)
            if shown.status_code != 200 or not methods:
                return f"the gateway's checkout page {link} showed no way to pay ({shown.status_code})"
            go = http.post(f"{link}/go", data={"method": methods[0]}, headers=agent)
            if go.status_code != 303:
                return f"pressing {methods[0]!r} on the checkout page answered {go.status_code}, not a redirect"
            page = http.get(go.headers["location"], follow_redirects=True)
            if page.status_code != 200 or not urlsplit(str(page.url)).path.startswith("/sandbox/checkout/"):
                return _refused(f"the checkout page's {methods[0]!r} redirect", page)
            paid = http.post(f"{page.url}/pay", data={"buyer_logon_id": "kit-buyer@example.com"})
            return "" if paid.status_code in (200, 303) else _refused("paying on its checkout page", paid)
        if kind == "qr_code":
            if not action.qr_code.code.startswith(alipay_url):
                return f"not run: the QR code {action.qr_code.code[:80]!r} does not lead to the kit's sandbox"
            paid = http.post(f"{action.qr_code.code}/pay", data={"buyer_logon_id": "kit-buyer@example.com"})
            return "" if paid.status_code == 200 else _refused("paying the QR code's trade", paid)
    return f"not run: the kit cannot pay a {kind} action for {payment_id} (it pays app_pay, redirect, qr_code and hosted_checkout)"


def _refused(what: str, answer: httpx.Response) -> str:
    reason = answer.headers.get("x-sandbox-error") or answer.text[:300]
    return f"the Alipay sandbox refused {what} ({answer.status_code}): {reason}"


def _wait_until_paid(stub: svc_grpc.CashierServiceStub, metadata: Metadata, name: str, alipay_url: str,
                     expected_url: str) -> tuple[bool, str]:
    """Until the payment is SUCCEEDED; or, as soon as the sandbox's record shows why it will not be, that."""
    payment_id = name.rsplit("/", 1)[1]
    started = time.monotonic()
    with httpx.Client(timeout=CALL_SECONDS) as http:
        while True:
            payment = stub.GetPayment(svc.GetPaymentRequest(name=name), metadata=metadata,
                                      timeout=CALL_SECONDS).payment
            if payment.state == pb.PAYMENT_STATE_SUCCEEDED:
                return True, ""
            waited = time.monotonic() - started
            notes = http.get(f"{alipay_url}/sandbox/notifications", params={"out_trade_no": payment_id}).json()
            sent = [n for n in notes.get("notifications", []) if n.get("attempts")]
            if sent and sent[0]["url"] != expected_url:
                return False, (f"the channel gave Alipay the notify URL {sent[0]['url']!r}, not the gateway's "
                               f"{expected_url!r}")
            failed = [a for n in sent for a in n["attempts"] if a.get("outcome") != "success"]
            if failed:
                attempt = failed[0]
                return False, (f"the sandbox posted its signed notification to {expected_url} and the gateway "
                               f"answered {attempt.get('http_status')} {attempt.get('body', '')[:200]!r} "
                               f"{attempt.get('error', '')} (parse_notification refused a genuine notification?)")
            if not notes.get("notifications") and waited > 5:
                return False, "Alipay was asked for no notification: prepare gave it no notify URL"
            if waited > NOTIFICATION_SECONDS:
                return False, (f"still {pb.PaymentState.Name(payment.state)} after {NOTIFICATION_SECONDS:g} s "
                               f"(the sandbox's record: {sent or notes})"[:600])
            time.sleep(0.05)
