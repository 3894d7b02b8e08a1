"""`cashier demo` (what `make demo` runs): the real gateway on embedded SQLite with the built-in Alipay
sandbox, walked through step by step over real gRPC and HTTP, then left serving until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, cast

import grpc
import httpx
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import refund_pb2
from gateway.config import load_settings
from gateway.domain.errors import AlreadyExists
from gateway.domain.money import format_minor
from gateway.runtime import RunningGateway, start
from gateway.service.admin import NewMerchant

MERCHANT = "tea-house"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
PREVIEWS = [
    ("iOS app 9.1, product card in a post", pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="9.1.0"),
     pb.SCENARIO_POST_PRODUCT_CARD, False),
    ("iOS app 7.4 (too old for native)", pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="7.4"),
     pb.SCENARIO_POST_PRODUCT_CARD, False),
    ("PC browser, shop home page", pb.Client(platform=pb.PLATFORM_PC_BROWSER), pb.SCENARIO_SHOP_HOME, False),
    ("PC browser, scan to pay", pb.Client(platform=pb.PLATFORM_PC_BROWSER), pb.SCENARIO_SHOP_HOME, True),
    ("mobile browser", pb.Client(platform=pb.PLATFORM_MOBILE_BROWSER, user_agent=IPHONE),
     pb.SCENARIO_SHOP_HOME, False),
    ("WeChat in-app browser", pb.Client(platform=pb.PLATFORM_IN_APP_BROWSER, app_name="WeChat"),
     pb.SCENARIO_SHOP_HOME, False),
    ("link shared outside the platform", pb.Client(platform=pb.PLATFORM_MOBILE_BROWSER),
     pb.SCENARIO_SHARED_LINK, False),
]
SCENES = [
    ("Product card in a post, platform iOS app", pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="9.1.0"),
     pb.SCENARIO_POST_PRODUCT_CARD),
    ("Shop home page, PC browser", pb.Client(platform=pb.PLATFORM_PC_BROWSER), pb.SCENARIO_SHOP_HOME),
    ("Link shared outside the platform", pb.Client(platform=pb.PLATFORM_MOBILE_BROWSER),
     pb.SCENARIO_SHARED_LINK),
]


#: Local stand-ins for payment rails, registered by the distribution that ships them (the Alipay sandbox is
#: `alipay`): the core never imports a sandbox, it starts the one registered here.
LOCAL_RAIL_ENTRY_POINTS = "cashier.local_rails"


class LocalRail(Protocol):
    """A running local rail: where it listens, the `[channels.<name>]` table pointing a gateway at it."""

    @property
    def url(self) -> str: ...

    @property
    def channel_table(self) -> Mapping[str, Any]: ...

    def stop(self) -> None: ...


def start_local_rail(name: str, key_dir: Path) -> LocalRail:
    """Start the local rail registered as `name` (its start function takes the directory for its keys)."""
    found = [ep for ep in entry_points(group=LOCAL_RAIL_ENTRY_POINTS) if ep.name == name]
    if not found:
        raise LookupError(f"no local {name!r} rail is installed (entry point group {LOCAL_RAIL_ENTRY_POINTS})")
    rail: LocalRail = found[0].load()(key_dir)
    return rail


def step(number: int, title: str) -> None:
    print(f"\n── {number}. {title} " + "─" * max(0, 60 - len(title)), flush=True)


def run_demo(workdir: str, *, exit_after: bool = False, grpc_address: str = "127.0.0.1:50051",
             http_address: str = "127.0.0.1:8080") -> int:
    root = Path(workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    step(1, "Start the Alipay sandbox (a local stand-in for Alipay's gateway)")
    try:
        alipay = start_local_rail("alipay", root / "keys")
    except LookupError as exc:
        print(f"cannot start the Alipay sandbox: {exc}; reinstall the project (`make demo` does)")
        return 1
    print(f"sandbox at {alipay.url}; a fresh app key pair was generated in {root / 'keys'}")
    settings = load_settings(None, env={}, overrides={
        "server": {"grpc": grpc_address, "http": http_address, "grace_seconds": 2},
        "database": {"url": f"sqlite:///{root / 'cashier.db'}"},
        "logging": {"level": "WARNING"},
        "channels": {"alipay": dict(alipay.channel_table)},
    })
    step(2, "Start the gateway on embedded SQLite (migrations run on first start)")
    try:
        running = start(settings)
    except OSError as exc:
        alipay.stop()
        print(f"cannot bind {grpc_address} and {http_address} ({exc}); is another gateway running? "
              "Choose other ports with --grpc and --http.")
        return 1
    try:
        return _walk(running, alipay.url, exit_after)
    finally:
        running.stop(1)
        alipay.stop()


def _walk(running: RunningGateway, sandbox_url: str, exit_after: bool) -> int:
    admin = running.gateway.admin
    print(f"gRPC on {running.grpc_target}, HTTP on {running.http_url}, database {running.gateway.settings.database.url}")
    step(3, "An operator registers a merchant and a trading app (cashier merchants/apps …)")
    try:
        admin.create_merchant(NewMerchant(MERCHANT, "Lin's Tea House", "food"))
        print(f"merchant {MERCHANT}: approved, settlement account verified")
    except AlreadyExists:
        print(f"merchant {MERCHANT} exists from an earlier run")
    app_id = f"shop-app-{len(admin.list_apps()) + 1}"
    key = admin.create_app(app_id, "Micro shop app").key
    admin.authorize_app(app_id, MERCHANT)
    print(f"app {app_id} may act for {MERCHANT}; its API key (shown once, only a hash is stored):\n  {key}")
    md = (("authorization", f"Bearer {key}"),)

    with grpc.insecure_channel(running.grpc_target) as channel:
        stub = svc_grpc.CashierServiceStub(channel)
        step(4, "Standard health checking and server reflection")
        # types-grpcio-health-checking and -reflection declare the stubs without their methods.
        status = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]
            health_pb2.HealthCheckRequest())
        print("health:", health_pb2.HealthCheckResponse.ServingStatus.Name(status.status))
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        listing = reflect.ServerReflectionInfo(iter(  # type: ignore[operator]
            [reflection_pb2.ServerReflectionRequest(list_services="")]))
        print("services:", ", ".join(s.name for r in listing for s in r.list_services_response.service))

        step(5, "ListChannels: what is installed (each one a pluggy plugin)")
        for c in stub.ListChannels(svc.ListChannelsRequest(), metadata=md).channels:
            print(f"{c.name}: {c.display_name} [{', '.join(c.actions)}] from {c.plugin} {c.version}")

        step(6, "PreviewRoute: the gateway picks the channel from the buyer's client and scenario")
        for label, client, scenario, scan in PREVIEWS:
            preview = stub.PreviewRoute(svc.PreviewRouteRequest(
                parent=f"merchants/{MERCHANT}", amount=2590, currency_code="CNY", client=client,
                scenario=scenario, scan_to_pay=scan), metadata=md)
            chosen = next((c for c in preview.candidates if c.chosen), None)
            print(f"{label:<34} → {preview.channel or 'no channel':<12} {chosen.reason if chosen else preview.refusal}")

        step(7, "CreatePayment from the platform's iOS app: a real RSA2-signed app-pay order string")
        request = svc.CreatePaymentRequest(
            parent=f"merchants/{MERCHANT}", out_trade_no=f"demo-{app_id}", amount=2590, currency_code="CNY",
            subject="Oolong tea, 250 g",
            line_items=[pb.LineItem(sku="oolong-250", name="Oolong tea, 250 g", quantity=1, unit_price=2590)],
            client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_name="Platform", app_version="9.1.0"),
            scenario=pb.SCENARIO_POST_PRODUCT_CARD)
        idem = (*md, ("idempotency-key", f"demo-{app_id}"))
        payment = stub.CreatePayment(request, metadata=idem).payment
        print(f"{payment.name}\n  state {pb.PaymentState.Name(payment.state)}, channel {payment.channel}")
        print(f"  order string for the Alipay SDK: {payment.action.app_pay.order_string[:110]}…")
        # A page waiting for the buyer holds WatchPayment open: the payment now, then each change.
        watch = stub.WatchPayment(svc.WatchPaymentRequest(name=payment.name), metadata=md, timeout=30)
        before = next(watch).payment
        answer = httpx.post(f"{sandbox_url}/sandbox/app-pay",
                            json={"order_string": payment.action.app_pay.order_string, "pay": True}).json()
        print(f"  the Alipay sandbox verified the signature, opened trade {answer.get('trade_no')} "
              f"for {answer.get('total_amount')} CNY, and the buyer paid it in the (simulated) Alipay app")
        paid = next(watch).payment
        print(f"  Alipay's signed notification reached {running.http_url}/notify/mobile/{MERCHANT}; "
              f"WatchPayment streamed {pb.PaymentState.Name(before.state)} → {pb.PaymentState.Name(paid.state)}")

        step(8, "Three scenarios side by side")
        for label, client, scenario in SCENES:
            made = stub.CreatePayment(svc.CreatePaymentRequest(
                parent=f"merchants/{MERCHANT}", out_trade_no=f"demo-{app_id}-scene-{scenario}", amount=1280,
                currency_code="CNY", subject="Jasmine tea, 100 g", client=client, scenario=scenario,
                line_items=[pb.LineItem(sku="jasmine-100", name="Jasmine tea, 100 g", quantity=1, unit_price=1280)],
                return_url="https://shop.example/thanks"), metadata=md).payment
            print(f"{label}: channel {made.channel}, action {made.action.WhichOneof('kind')}")
            kind = made.action.WhichOneof("kind")
            if kind == "app_pay":
                print(f"   order string for the Alipay SDK ({len(made.action.app_pay.order_string)} characters)")
            elif kind == "redirect":
                print(f"   redirect the browser to {made.action.redirect.url[:90]}…")
            elif kind == "hosted_checkout":
                print(f"   share this link; open it on a phone or a desktop and pay:\n   {made.action.hosted_checkout.url}")

        step(9, "Retry with the same idempotency-key: the first answer, replayed")
        again = stub.CreatePayment(request, metadata=idem).payment
        print(f"same answer as the first call: {again == payment}")

        step(10, "Bad input: every wrong field is named, nothing is written")
        bad = svc.CreatePaymentRequest(parent=f"merchants/{MERCHANT}", out_trade_no="bad one", amount=0,
                                       currency_code="USD", client=pb.Client(platform=pb.PLATFORM_PC_BROWSER))
        try:
            stub.CreatePayment(bad, metadata=md)
        except grpc.RpcError as err:
            print(f"{err.code().name}:")
            # A failed call raises an RpcError that is also its grpc.Call (what from_call reads).
            status = rpc_status.from_call(cast(grpc.Call, err))
            for detail in status.details if status else ():
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    br = error_details_pb2.BadRequest()
                    detail.Unpack(br)
                    for v in br.field_violations:
                        print(f"   {v.field}: {v.description}")

        step(11, "ListPayments (paginated) and ClosePayment")
        page = stub.ListPayments(svc.ListPaymentsRequest(parent=f"merchants/{MERCHANT}", page_size=5), metadata=md)
        for p in page.payments:
            print(f"   {p.name}  {format_minor(p.amount, p.currency_code)}  {pb.PaymentState.Name(p.state)}")
        try:
            stub.ClosePayment(svc.ClosePaymentRequest(name=payment.name), metadata=md)
        except grpc.RpcError as err:
            print(f"closing the paid one: {err.code().name}: {err.details()}")
        third = stub.CreatePayment(request.__class__(
            parent=f"merchants/{MERCHANT}", out_trade_no=f"demo-{app_id}-3", amount=990, currency_code="CNY",
            subject="Tea cup", client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="9.1.0")),
            metadata=md).payment
        closed = stub.ClosePayment(svc.ClosePaymentRequest(name=third.name), metadata=md).payment
        print(f"closing an unpaid one: {pb.PaymentState.Name(closed.state)}")

        step(12, "RefundPayment: part of the paid payment back to the buyer, through the sandbox")
        refund = stub.RefundPayment(svc.RefundPaymentRequest(
            parent=payment.name, out_refund_no=f"demo-{app_id}-r1", amount=590, reason="one cup short"),
            metadata=(*md, ("idempotency-key", f"demo-{app_id}-r1"))).refund
        now = stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=md).payment
        print(f"{refund.name}: {format_minor(refund.amount, refund.currency_code)} "
              f"{refund_pb2.RefundState.Name(refund.state)}")
        print(f"the payment is {pb.PaymentState.Name(now.state)}, refunded "
              f"{format_minor(now.refunded_amount, now.currency_code)}; Alipay's trade {now.channel_reference}")

    step(13, "Prometheus metrics on the HTTP face")
    for line in httpx.get(f"{running.http_url}/metrics").text.splitlines():
        if line.startswith("cashier_rpc_calls_total"):
            print("  " + line)
    print(f"health: {httpx.get(f'{running.http_url}/healthz').json()}")

    if exit_after:
        print("\nDemo finished (--exit).")
        return 0
    print(f"\nStill serving. Try it yourself:\n"
          f"  grpcurl -plaintext -H 'authorization: Bearer {key}' {running.grpc_target} list\n"
          f"  curl {running.http_url}/metrics\n"
          f"  open {sandbox_url}/ for the Alipay sandbox\nCtrl-C stops everything.")
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stopping.wait()
    print("stopping…")
    return 0
