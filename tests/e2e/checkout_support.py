"""Shared by the shared-link tests: a gateway with every built-in channel in front of a local Alipay, and
the buyer's phone and desktop as user agents."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay, start_local_alipay
from gateway.runtime import RunningGateway, start
from tests.support import CashierClient, make_settings, seed_tenant

CHANNELS = "mobile,pc,shared_link,test_channels"

IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Mobile/15E148 Safari/604.1")
ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Mobile Safari/537.36")
DESKTOP_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Safari/537.36")
WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN")
ALIPAY_APP = ("Mozilla/5.0 (Linux; U; Android 14; zh-CN; Pixel 8 Build/AP1A) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Version/4.0 Chrome/69.0.3497.100 UWS/3.22.2.58 Mobile Safari/537.36 UCBS/3.22.2.58 "
              "NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:412|845|2.625) AliApp(AP/10.6.0.8000) "
              "AlipayClient/10.6.0.8000 Language/zh-Hans")

ITEMS = [pb.LineItem(sku="tea-250", name="Oolong tea, 250 g", quantity=2, unit_price=1295),
         pb.LineItem(sku="cup", name="Tasting cup", quantity=1, unit_price=1600)]
ITEMS_TOTAL = 2 * 1295 + 1600  # 41.90


@contextmanager
def alipay_and_gateway(tmp_path: Path, database_url: str) -> Iterator[tuple[LocalAlipay, RunningGateway]]:
    """Caller sets CASHIER_LOAD_CHANNELS (monkeypatch) before entering."""
    alipay = start_local_alipay(tmp_path / "keys", time_scale=0.0005)
    try:
        settings = make_settings(database_url, channels={
            "alipay": alipay.channel_table,
            "mobile": {"min_native_version": {"ios": "8.2"}},
            # Keep the test plugin's own native channel out of the way, as the other channel tests do.
            "test_app": {"min_version": "999"}})
        running = start(settings, housekeeping=False)
        try:
            yield alipay, running
        finally:
            running.stop(0.5)
    finally:
        alipay.stop()


@contextmanager
def trading_app(gateway: RunningGateway) -> Iterator[CashierClient]:
    tenant = seed_tenant(gateway.gateway, display_name="Tea House 茶舍")
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        yield CashierClient(channel, tenant)


def shared_link(app: CashierClient, **fields: object) -> pb.Payment:
    values: dict[str, object] = {
        "amount": ITEMS_TOTAL, "line_items": ITEMS, "scenario": pb.SCENARIO_SHARED_LINK,
        "client": pb.Client(platform=pb.PLATFORM_MOBILE_BROWSER, user_agent=IPHONE_SAFARI),
    }
    values.update(fields)
    return app.create(**values)


def payment_id(payment: pb.Payment) -> str:
    return payment.name.rsplit("/", 1)[1]


def wait_for_state(app: CashierClient, payment: pb.Payment, state: int, seconds: float = 10) -> pb.Payment:
    deadline = time.monotonic() + seconds
    while True:
        now = app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata()).payment
        if now.state == state or time.monotonic() > deadline:
            return now
        time.sleep(0.05)
