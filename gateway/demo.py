"""`cashier demo` (what `make demo` runs): the real gateway on embedded SQLite with the built-in Alipay
sandbox, walked through step by step over real gRPC and HTTP, ending with the day's settlement, then left
serving until Ctrl-C."""

from __future__ import annotations

import io
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, cast

import grpc
import httpx
import segno
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
from cashier.v1 import merchant_pb2 as mpb
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from cashier.v1 import onboarding_pb2 as opb
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import refund_pb2
from cashier.v1 import settlement_service_pb2 as spb
from cashier.v1 import settlement_service_pb2_grpc as spb_grpc
from channels.contract.payouts import PayoutRail
from gateway.config import ConfigError, Settings, load_settings
from gateway.domain.merchants import SettlementPlan
from gateway.domain.money import format_minor
from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.runtime import RunningGateway, start
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.service.run import RunReport
from settlement.service.run import run as settlement_run

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


@dataclass(frozen=True)
class Applicant:
    """A merchant-to-be of the demo, as the platform's management centre knows it."""

    merchant_id: str
    display_name: str
    kind: opb.VerificationKind
    legal_name: str
    credit_code: str  # a valid unified social credit code (GB 32100-2015), check character included
    category: str
    logon_id: str  # its Alipay account, which the sandbox knows under `legal_name`

    @property
    def label(self) -> str:
        return "Blue V (enterprise)" if self.kind == opb.VERIFICATION_KIND_ENTERPRISE else "Orange V (business licence)"

    def application(self) -> opb.Application:
        return opb.Application(
            merchant_id=self.merchant_id, display_name=self.display_name,
            basic_info=opb.BasicInfo(applicant_account_id=f"acct-{self.merchant_id}", kind=self.kind,
                                     contact_name="Lin Mei", contact_phone="13800138000",
                                     contact_email=f"lin@{self.merchant_id}.example"),
            business_info=opb.BusinessInfo(legal_name=self.legal_name, credit_code=self.credit_code,
                                           registered_address="1 Wusi Road, Fuzhou", business_scope="Retail",
                                           business_category=self.category),
            # For a Blue V or an Orange V the payout account is the business's, held in its legal name.
            financial_info=opb.FinancialInfo(payout_logon_id=self.logon_id, holder_name=self.legal_name))


APPLICANTS = (
    Applicant(MERCHANT, "Lin's Tea House", opb.VERIFICATION_KIND_ENTERPRISE, "Fuzhou Lin's Tea House Co., Ltd.",
              "91350100MA2Y3B4K5Y", "food", "finance@teahouse.example"),
    Applicant("lin-pottery", "Lin's Pottery", opb.VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS,
              "Xiamen Lin's Pottery Workshop", "92350203MA8N6P7Q1L", "crafts", "shop@linpottery.example"),
)
#: The Alipay accounts the sandbox knows (logon id -> holder's name): it refuses a transfer under another name.
ACCOUNTS = {a.logon_id: a.legal_name for a in APPLICANTS}
#: What each merchant sells first, once onboarded.
FIRST_SALES = {MERCHANT: ("Jasmine tea, 100 g", 1280), "lin-pottery": ("Celadon tea cup", 4800)}
#: The platform's fee, 0.60 %, on each built-in channel: a `[settlement.fees]` table must name every channel
#: loaded, so another channel plugin installed stops the demo's start-up naming it.
FEES = {"mobile": 60, "pc": 60, "shared_link": 60}


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


def start_local_rail(name: str, key_dir: Path, **options: Any) -> LocalRail:
    """Start the local rail registered as `name` (its start function takes the directory for its keys, and
    the rail's own `options`)."""
    found = [ep for ep in entry_points(group=LOCAL_RAIL_ENTRY_POINTS) if ep.name == name]
    if not found:
        raise LookupError(f"no local {name!r} rail is installed (entry point group {LOCAL_RAIL_ENTRY_POINTS})")
    rail: LocalRail = found[0].load()(key_dir, **options)
    return rail


def licence(applicant: Applicant) -> bytes:
    """A business licence as a PNG (its QR code carries the credit code, as a real licence's does)."""
    out = io.BytesIO()
    segno.make(applicant.credit_code, error="m").save(out, kind="png", scale=4)
    return out.getvalue()


class _Centre:
    """The platform's management centre over MerchantService (operator credentials), the trading app over
    CashierService, and each applicant's Alipay statement (the sandbox's record of transfers)."""

    def __init__(self, merchants: msvc_grpc.MerchantServiceStub, cashier: svc_grpc.CashierServiceStub,
                 operator: tuple[tuple[str, str], ...], app: tuple[tuple[str, str], ...], sandbox_url: str):
        self.merchants, self.cashier = merchants, cashier
        self.operator, self.app = operator, app
        self.sandbox_url = sandbox_url
        self.applications: dict[str, str] = {}

    def _call(self, method: str, request: Any) -> Any:
        return getattr(self.merchants, method)(request, metadata=self.operator, timeout=30)

    def apply(self, a: Applicant) -> bool:
        """Submit, add the licence, approve; False when an earlier run onboarded the merchant already."""
        try:
            merchant = self._call("GetMerchant", msvc.GetMerchantRequest(name=f"merchants/{a.merchant_id}")).merchant
        except grpc.RpcError as err:
            if err.code() is not grpc.StatusCode.NOT_FOUND:
                raise
        else:
            if merchant.collection_enabled:
                print(f"{a.merchant_id}: onboarded in an earlier run (delete the demo's folder to start over)")
                return False
        earlier = self._call("ListApplications", msvc.ListApplicationsRequest(
            applicant_account_id=f"acct-{a.merchant_id}", page_size=1)).applications
        application = earlier[0] if earlier else None
        if application is None or application.state in (opb.APPLICATION_STATE_REJECTED,
                                                         opb.APPLICATION_STATE_WITHDRAWN):
            application = self._call("SubmitApplication", msvc.SubmitApplicationRequest(
                application=a.application())).application
            print(f"{a.merchant_id}: {a.label} \"{a.legal_name}\", credit code {a.credit_code}\n"
                  f"   SubmitApplication → {application.name} {opb.ApplicationState.Name(application.state)}")
        if application.state == opb.APPLICATION_STATE_SUBMITTED:
            if not application.documents:
                document = self._call("AddApplicationDocument", msvc.AddApplicationDocumentRequest(
                    parent=application.name, content=licence(a))).document
                print(f"   AddApplicationDocument: the licence, {document.content_type} judged from its bytes, "
                      f"{document.size_bytes} bytes")
            approved = self._call("ReviewApplication", msvc.ReviewApplicationRequest(
                name=application.name, decision=msvc.REVIEW_DECISION_APPROVE))
            print(f"   ReviewApplication APPROVE → {approved.merchant.name} exists; it may not collect until its "
                  "Alipay account is verified")
        self.applications[a.merchant_id] = application.name
        return True

    def verify(self, a: Applicant) -> None:
        name = self.applications[a.merchant_id]
        attempt = self._call("StartAccountVerification", msvc.StartAccountVerificationRequest(name=name)).attempt
        print(f"{a.merchant_id}: StartAccountVerification → a transfer (alipay.fund.trans.uni.transfer) to "
              f"{a.logon_id}\n   under the name \"{a.legal_name}\", which Alipay checks → "
              f"{opb.VerificationAttemptState.Name(attempt.state)}")
        amount = self.received(a.logon_id)
        print(f"   the applicant sees {format_minor(amount, 'CNY')} arrive in the Alipay app and types {amount}")
        confirmed = self._call("ConfirmAccountVerification", msvc.ConfirmAccountVerificationRequest(
            name=name, amount=amount)).application
        print(f"   ConfirmAccountVerification → {opb.AccountVerificationState.Name(confirmed.account_state)}: "
              "collection enabled")

    def received(self, logon_id: str) -> int:
        """The last amount the account received, in fen, read from its statement (the sandbox's transfers)."""
        transfers = httpx.get(f"{self.sandbox_url}/sandbox/transfers", timeout=10).json()["transfers"]
        paid = [t for t in transfers if t["payee_identity"] == logon_id and t["status"] == "SUCCESS"]
        # Alipay states amounts in yuan with two decimals; Decimal keeps them exact.
        return int(Decimal(paid[-1]["trans_amount"]) * 100)

    def square(self, app_id: str) -> opb.SquareApp:
        apps = self._call("ListApps", msvc.ListAppsRequest()).apps
        app: opb.SquareApp = next(a for a in apps if a.name == f"apps/{app_id}")
        print(f"ListApps (the square) shows {app.name}, {app.display_name}: \"{app.description}\"")
        return app

    def authorize(self, a: Applicant, app: opb.SquareApp) -> None:
        self._call("AuthorizeApp", msvc.AuthorizeAppRequest(parent=f"merchants/{a.merchant_id}", app=app.name))
        print(f"{a.merchant_id}: AuthorizeApp {app.name}")

    def collect(self, a: Applicant, app_id: str) -> None:
        subject, amount = FIRST_SALES[a.merchant_id]
        payment = self.cashier.CreatePayment(svc.CreatePaymentRequest(
            parent=f"merchants/{a.merchant_id}", out_trade_no=f"demo-{app_id}-first", amount=amount,
            currency_code="CNY", subject=subject, scenario=pb.SCENARIO_POST_PRODUCT_CARD,
            client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="9.1.0")),
            metadata=(*self.app, ("idempotency-key", f"demo-{app_id}-{a.merchant_id}-first")), timeout=30).payment
        print(f"{a.merchant_id}: the app's CreatePayment ({subject}, {format_minor(amount, 'CNY')}) → "
              f"{pb.PaymentState.Name(payment.state)} via {payment.channel}, buyer action "
              f"{payment.action.WhichOneof('kind')}")


def step(number: int, title: str) -> None:
    print(f"\n── {number}. {title} " + "─" * max(0, 60 - len(title)), flush=True)


def run_demo(workdir: str, *, exit_after: bool = False, grpc_address: str = "127.0.0.1:50051",
             http_address: str = "127.0.0.1:8080") -> int:
    root = Path(workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    step(1, "Start the Alipay sandbox (a local stand-in for Alipay's gateway)")
    try:
        # Certificate mode: Alipay accepts transfers (account verification) only from an app signing in it.
        alipay = start_local_rail("alipay", root / "keys", certificate_mode=True, accounts=ACCOUNTS)
    except LookupError as exc:
        print(f"cannot start the Alipay sandbox: {exc}; reinstall the project (`make demo` does)")
        return 1
    print(f"sandbox at {alipay.url}; a fresh app key pair and certificates (certificate mode) in {root / 'keys'}")
    print("it knows the Alipay accounts " + ", ".join(f"{k} ({v})" for k, v in ACCOUNTS.items()))
    settings = load_settings(None, env={}, overrides={
        "server": {"grpc": grpc_address, "http": http_address, "grace_seconds": 2},
        "database": {"url": f"sqlite:///{root / 'cashier.db'}"},
        "logging": {"level": "WARNING"},
        "channels": {"alipay": dict(alipay.channel_table)},
        "settlement": {"fees": FEES},
    })
    step(2, "Start the gateway on embedded SQLite (migrations run on first start)")
    try:
        running = start(settings)
    except OSError as exc:
        alipay.stop()
        print(f"cannot bind {grpc_address} and {http_address} ({exc}); is another gateway running? "
              "Choose other ports with --grpc and --http.")
        return 1
    except ConfigError as exc:
        alipay.stop()
        print(f"cannot start the gateway: {exc}. The demo charges its fee on the built-in channels; "
              "CASHIER_LOAD_CHANNELS=mobile,pc,shared_link,alipay_payouts runs it with those alone.")
        return 1
    try:
        return _walk(running, alipay.url, exit_after)
    finally:
        running.stop(1)
        alipay.stop()


def _walk(running: RunningGateway, sandbox_url: str, exit_after: bool) -> int:
    admin = running.gateway.admin
    print(f"gRPC on {running.grpc_target}, HTTP on {running.http_url}, database {running.gateway.settings.database.url}")
    if not running.gateway.payout_rails:
        print("no payout rail is installed, so no merchant can verify its Alipay account: reinstall the project "
              "(its alipay_payouts plugin), and let CASHIER_LOAD_CHANNELS, when set, name alipay_payouts")
        return 1
    n = len(admin.list_apps()) + 1
    app_id = f"shop-app-{n}"
    step(3, "An operator opens a trading app in the application square")
    key = admin.create_app(app_id, "Micro shop app").key
    running.gateway.onboarding.list_in_square(Actor(ActorKind.OPERATOR, "demo"), app_id, True,
                                              "Open a shop in minutes")
    print(f"app {app_id} is in the square; its API key (shown once, only a hash is stored):\n  {key}")
    operator = admin.create_operator(f"centre-{n}").key
    print(f"the platform's management centre calls MerchantService with an operator key (centre-{n})")
    md = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(running.grpc_target) as channel:
        centre = _Centre(msvc_grpc.MerchantServiceStub(channel), svc_grpc.CashierServiceStub(channel),
                         (("authorization", f"Bearer {operator}"),), md, sandbox_url)
        try:
            step(4, "A Blue V and an Orange V apply with their licences; an operator approves")
            pending = [a for a in APPLICANTS if centre.apply(a)]
            step(5, "Each verifies its Alipay account: a random amount is sent, the applicant types it back")
            for applicant in pending:
                centre.verify(applicant)
            if not pending:
                print("nothing to verify: both accounts were verified in an earlier run")
            step(6, "Each authorises the app from the square, and the app collects for it")
            listed = centre.square(app_id)
            # Every authorisation before the app's first call: a gateway caches an app's merchants with its key.
            for applicant in APPLICANTS:
                centre.authorize(applicant, listed)
            for applicant in APPLICANTS:
                centre.collect(applicant, app_id)
        except grpc.RpcError as err:
            print(f"onboarding stopped: {err.code().name}: {err.details()}")
            return 1

    with grpc.insecure_channel(running.grpc_target) as channel:
        stub = svc_grpc.CashierServiceStub(channel)
        step(7, "Standard health checking and server reflection")
        # types-grpcio-health-checking and -reflection declare the stubs without their methods.
        status = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]
            health_pb2.HealthCheckRequest())
        print("health:", health_pb2.HealthCheckResponse.ServingStatus.Name(status.status))
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        listing = reflect.ServerReflectionInfo(iter(  # type: ignore[operator]
            [reflection_pb2.ServerReflectionRequest(list_services="")]))
        print("services:", ", ".join(s.name for r in listing for s in r.list_services_response.service))

        step(8, "ListChannels: what is installed (each one a pluggy plugin)")
        for c in stub.ListChannels(svc.ListChannelsRequest(), metadata=md).channels:
            print(f"{c.name}: {c.display_name} [{', '.join(c.actions)}] from {c.plugin} {c.version}")

        step(9, "PreviewRoute: the gateway picks the channel from the buyer's client and scenario")
        for label, client, scenario, scan in PREVIEWS:
            preview = stub.PreviewRoute(svc.PreviewRouteRequest(
                parent=f"merchants/{MERCHANT}", amount=2590, currency_code="CNY", client=client,
                scenario=scenario, scan_to_pay=scan), metadata=md)
            chosen = next((c for c in preview.candidates if c.chosen), None)
            print(f"{label:<34} → {preview.channel or 'no channel':<12} {chosen.reason if chosen else preview.refusal}")

        step(10, "CreatePayment from the platform's iOS app: a real RSA2-signed app-pay order string")
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

        step(11, "Three scenarios side by side")
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

        step(12, "Retry with the same idempotency-key: the first answer, replayed")
        again = stub.CreatePayment(request, metadata=idem).payment
        print(f"same answer as the first call: {again == payment}")

        step(13, "Bad input: every wrong field is named, nothing is written")
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

        step(14, "ListPayments (paginated) and ClosePayment")
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

        step(15, "RefundPayment: part of the paid payment back to the buyer, through the sandbox")
        refund = stub.RefundPayment(svc.RefundPaymentRequest(
            parent=payment.name, out_refund_no=f"demo-{app_id}-r1", amount=590, reason="one cup short"),
            metadata=(*md, ("idempotency-key", f"demo-{app_id}-r1"))).refund
        now = stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=md).payment
        print(f"{refund.name}: {format_minor(refund.amount, refund.currency_code)} "
              f"{refund_pb2.RefundState.Name(refund.state)}")
        print(f"the payment is {pb.PaymentState.Name(now.state)}, refunded "
              f"{format_minor(now.refunded_amount, now.currency_code)}; Alipay's trade {now.channel_reference}")

    step(16, "Prometheus metrics on the HTTP face")
    for line in httpx.get(f"{running.http_url}/metrics").text.splitlines():
        if line.startswith("cashier_rpc_calls_total"):
            print("  " + line)
    print(f"health: {httpx.get(f'{running.http_url}/healthz').json()}")

    try:
        _settle(running, sandbox_url, now, refund, md, (("authorization", f"Bearer {operator}"),))
    except grpc.RpcError as err:
        print(f"settlement stopped: {err.code().name}: {err.details()}")
        return 1

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


# --- the day's settlement ----------------------------------------------------------------------------------

STATEMENT_COLUMNS = ("pending", "available", "deposit", "in transit", "total")


def _yuan(fen: int) -> str:
    return format_minor(fen, "CNY").removesuffix(" CNY")


def _rate(bps: int) -> str:
    return f"{bps // 100}.{bps % 100:02d} %"


def _balances(b: spb.Balances) -> str:
    return (f"pending {_yuan(b.pending)}, available {_yuan(b.available)}, deposit {_yuan(b.deposit)}, "
            f"in transit {_yuan(b.payouts_in_transit)}: {format_minor(b.total, 'CNY')} owed in all")


def _cells(b: spb.Balances) -> list[str]:
    return [_yuan(v) for v in (b.pending, b.available, b.deposit, b.payouts_in_transit, b.total)]


def _kind(kind: spb.LedgerEntryKind) -> str:
    return spb.LedgerEntryKind.Name(kind).removeprefix("LEDGER_ENTRY_KIND_").lower().replace("_", " ")


def _settle(running: RunningGateway, sandbox_url: str, paid: pb.Payment, refund: refund_pb2.Refund,
            app: tuple[tuple[str, str], ...], operator: tuple[tuple[str, str], ...]) -> None:
    """The day ends: what tea-house is owed, the settlement run for the day its money is due (paid through the
    sandbox's transfer), and what it is owed after, with its statement. The trading app reads over
    SettlementService, the operator reads the plan over MerchantService, as they would."""
    settings = running.gateway.settings
    calendar = settings.settlement.calendar()
    day = calendar.settlement_day(paid.paid_time.ToDatetime(tzinfo=UTC))
    own = {paid.name.rsplit("/", 1)[-1], refund.name.rsplit("/", 1)[-1]}
    with grpc.insecure_channel(running.grpc_target) as channel:
        settlement = spb_grpc.SettlementServiceStub(channel)
        merchants = msvc_grpc.MerchantServiceStub(channel)

        step(17, "What tea-house is owed tonight: ListLedgerEntries and GetBalance")
        entries = settlement.ListLedgerEntries(spb.ListLedgerEntriesRequest(
            parent=f"merchants/{MERCHANT}", start_date=day.isoformat(), end_date=day.isoformat(), page_size=100),
            metadata=app, timeout=30).ledger_entries
        for entry in (e for e in entries if e.reference in own):
            print(f"   {_kind(entry.kind):<14} {entry.reference}  pending {_yuan(entry.change.pending):>6}")
        balance = settlement.GetBalance(spb.GetBalanceRequest(name=f"merchants/{MERCHANT}/balance"),
                                        metadata=app, timeout=30).balance.balances
        print(f"GetBalance: {_balances(balance)}")
        print(f"   (fee {_rate(FEES[paid.channel])} rounded half up to the fen; the refund gave its share "
              "of the fee back, pro rata)")

        step(18, "The settlement run for the day the money is due, paid by Alipay transfer")
        schedule = merchants.GetSettlementSchedule(msvc.GetSettlementScheduleRequest(
            name=f"merchants/{MERCHANT}/settlementSchedule"), metadata=operator, timeout=30).schedule
        plan = SettlementPlan.T0 if schedule.plan == mpb.SETTLEMENT_PLAN_T0 else SettlementPlan.T15
        run_date = calendar.available_on(day, plan)
        print(f"{MERCHANT} is on {mpb.SettlementPlan.Name(schedule.plan)} (GetSettlementSchedule): the money "
              f"taken on {day.isoformat()} is due in the run for {run_date.isoformat()}.\n"
              f"`cashier settle run --date {run_date.isoformat()}` runs it once that day is over; the demo "
              "runs the same run now")
        earlier = [p for p in settlement.ListPayouts(spb.ListPayoutsRequest(parent=f"merchants/{MERCHANT}"),
                                                     metadata=app, timeout=30).payouts
                   if p.run_date == run_date.isoformat()]
        if earlier:
            print(f"(an earlier demo ran it already and paid {earlier[0].name}: running it again pays nothing "
                  "twice, and the money taken since waits for a later run; delete the demo's folder to start over)")
        report = _run(settings, running.gateway.payout_rails[0], run_date)
        print(f"released {format_minor(report.released_amount, 'CNY')} from pending to available "
              f"(ledger entries: {report.released_entries})")
        for m in report.merchants:
            print(f"{m.merchant_id}: payout {m.payout_id or '-'} of {format_minor(m.amount, 'CNY')} in "
                  f"{m.parts or 0} transfer(s) → {m.state}")
            if m.payout_id:
                for t in _transfers(sandbox_url, m.payout_id):
                    print(f"   Alipay's transfer order {t['order_id']}: {t['trans_amount']} CNY to "
                          f"{t['payee_identity']} (\"{t['payee_name']}\"), {t['status']}")

        step(19, "After the run: GetBalance, ListPayouts and GetStatement")
        after = settlement.GetBalance(spb.GetBalanceRequest(name=f"merchants/{MERCHANT}/balance"),
                                      metadata=app, timeout=30).balance.balances
        print(f"GetBalance: {_balances(after)}")
        for p in settlement.ListPayouts(spb.ListPayoutsRequest(parent=f"merchants/{MERCHANT}", page_size=3),
                                        metadata=app, timeout=30).payouts:
            print(f"ListPayouts: {p.name}  run {p.run_date}  {format_minor(p.amount, p.currency_code)}  "
                  f"{spb.PayoutState.Name(p.state)}, {p.part_count} part(s)")
        statement = settlement.GetStatement(spb.GetStatementRequest(
            name=f"merchants/{MERCHANT}/statement", start_date=day.isoformat(), end_date=run_date.isoformat()),
            metadata=app, timeout=30).statement
        _print_statement(statement, day, run_date)


def _run(settings: Settings, rail: PayoutRail, run_date: date) -> RunReport:
    """The run as `cashier settle run --date` makes it (settlement/cli.py): a database connection of its own,
    the `[settlement]` rules and calendar, the payout rail (the gateway's: the Alipay payouts plugin)."""
    # A connection per payout thread ([settlement] payout_concurrency), as the CLI sizes it.
    engine = make_engine(settings.database.url, pool_size=settings.settlement.payout_concurrency)
    try:
        return settlement_run(SqlUnitOfWorkFactory(engine, group_commit=False), rail, run_date,
                              settings.settlement.payout_rules, calendar=settings.settlement.calendar())
    finally:
        engine.dispose()


def _transfers(sandbox_url: str, payout_id: str) -> list[dict[str, Any]]:
    """The payout's transfers as Alipay records them (the sandbox's transfers; their out_biz_no is the payout
    id and the part's number)."""
    transfers = httpx.get(f"{sandbox_url}/sandbox/transfers", timeout=10).json()["transfers"]
    return [t for t in transfers if str(t["out_biz_no"]).startswith(f"{payout_id}_")]


def _print_statement(statement: spb.Statement, start: date, end: date) -> None:
    rows = [("opening", statement.opening)]
    rows += [(f"{_kind(m.kind)} ({m.entry_count})", m.change) for m in statement.movements]
    rows += [("closing", statement.closing)]
    width = max(len(label) for label, _ in rows)
    print(f"statement of {MERCHANT}, {start.isoformat()} to {end.isoformat()} ({statement.currency_code}):")
    print("   " + " ".ljust(width) + "".join(c.rjust(12) for c in STATEMENT_COLUMNS))
    for label, balances in rows:
        print("   " + label.ljust(width) + "".join(c.rjust(12) for c in _cells(balances)))
