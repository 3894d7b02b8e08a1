"""The channel's own tests; `pytest` also runs the conformance kit (see pyproject's addopts), which pays a
Huabei payment end to end through a real gateway and the Alipay sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from cashier_channel_huabei.channel import HuabeiChannel, Settings

from channels.alipay.sandbox.local import LocalAlipay, start_local_alipay
from channels.alipay.toolkit import AlipaySettings
from channels.contract import (
    AppPay,
    ClientInfo,
    Decline,
    MerchantView,
    Offer,
    Platform,
    RouteRequest,
    Scenario,
)
from channels.testing.kit import payment_for


@pytest.fixture(scope="module")
def alipay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAlipay]:
    local = start_local_alipay(Path(tmp_path_factory.mktemp("alipay")))
    yield local
    local.stop()


def huabei(alipay: LocalAlipay, **table: object) -> HuabeiChannel:
    return HuabeiChannel(Settings.from_table(table), AlipaySettings.from_table(alipay.channel_table),
                         "http://127.0.0.1:8080")


def request(amount: int, platform: Platform = Platform.IOS_APP) -> RouteRequest:
    return RouteRequest(MerchantView("tea-house", "Tea House"), amount, "CNY", ClientInfo(platform, "", "9.0"),
                        Scenario.POST_PRODUCT_CARD)


def test_below_the_minimum_it_declines_saying_why(alipay: LocalAlipay) -> None:
    channel = huabei(alipay, min_amount=60_000)
    answer = channel.offer(request(59_999))
    assert isinstance(answer, Decline) and "below the instalment minimum" in answer.reason
    offered = channel.offer(request(60_000))
    assert isinstance(offered, Offer) and "3 Huabei instalments" in offered.reason
    assert isinstance(channel.offer(request(60_000, Platform.PC_BROWSER)), Decline)


@pytest.mark.parametrize(("table", "key"), [({"periods": 5}, "periods"), ({"seller_percent": 50}, "seller_percent"),
                                            ({"min_amount": "100"}, "min_amount"), ({"fq": 3}, "fq")])
def test_a_wrong_table_names_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        Settings.from_table(table)


def test_the_order_carries_the_instalment_terms_and_alipay_accepts_it(alipay: LocalAlipay) -> None:
    channel = huabei(alipay, periods=12, seller_percent=100)
    payment = payment_for(request(120_000), "huabei")
    action = channel.prepare(payment)
    assert isinstance(action, AppPay)
    biz = json.loads(parse_qs(action.order_string)["biz_content"][0])
    assert biz["extend_params"] == {"hb_fq_num": "12", "hb_fq_seller_percent": "100"}
    assert biz["total_amount"] == "1200.00"
    # The sandbox verifies the RSA2 signature, which covers extend_params, and creates the trade.
    answer = httpx.post(f"{alipay.url}/sandbox/app-pay", json={"order_string": action.order_string})
    assert answer.status_code == 200, answer.text
    assert answer.json()["out_trade_no"] == payment.id
    # Alipay's record of the trade (the sandbox's) holds the instalment terms the buyer will see.
    recorded = httpx.get(f"{alipay.url}/sandbox/trades/{payment.id}").json()
    assert recorded["instalments"] == {"hb_fq_num": "12", "hb_fq_seller_percent": "100"}


def test_routed_next_to_the_builtin_mobile_channel(alipay: LocalAlipay, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A real gateway with `mobile` and `huabei` and one [[routing.rules]] entry: PreviewRoute over gRPC says
    why Huabei won or lost."""
    import grpc

    from cashier.v1 import cashier_service_pb2 as svc
    from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
    from cashier.v1 import payment_pb2 as pb
    from gateway.config import load_settings
    from gateway.runtime import start
    from gateway.service.admin import NewMerchant

    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile,huabei")
    settings = load_settings(None, env={}, overrides={
        "server": {"grpc": "127.0.0.1:0", "http": "127.0.0.1:0", "grace_seconds": 1},
        "database": {"url": f"sqlite:///{tmp_path / 'cashier.db'}"}, "logging": {"level": "WARNING"},
        "channels": {"alipay": alipay.channel_table, "huabei": {"min_amount": 60_000, "periods": 6}},
        "routing": {"rules": [{"name": "no instalments at the grocer", "merchants": ["grocer"],
                               "deny": ["huabei"]}]}})
    running = start(settings, housekeeping=False)
    try:
        admin = running.gateway.admin
        key = admin.create_app("shop-app", "Shop app").key
        for merchant in ("tea-house", "grocer"):
            admin.create_merchant(NewMerchant(merchant, merchant.title()))
            admin.authorize_app("shop-app", merchant)
        with grpc.insecure_channel(running.grpc_target) as wire:
            stub = svc_grpc.CashierServiceStub(wire)

            def preview(merchant: str, amount: int) -> tuple[str, dict[str, str]]:
                answer = stub.PreviewRoute(svc.PreviewRouteRequest(
                    parent=f"merchants/{merchant}", amount=amount, currency_code="CNY",
                    client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="9.0")),
                    metadata=[("authorization", f"Bearer {key}")], timeout=10)
                return answer.channel, {c.channel: c.reason for c in answer.candidates}

            won, reasons = preview("tea-house", 120_000)
            assert won == "huabei" and reasons["huabei"] == "6 Huabei instalments from 600.00 CNY"
            lost, reasons = preview("tea-house", 5_000)
            assert lost == "mobile"
            assert reasons["huabei"] == "50.00 CNY is below the instalment minimum 600.00 CNY"
            denied, reasons = preview("grocer", 120_000)
            assert denied == "mobile" and "denied by rule 'no instalments at the grocer'" in reasons["huabei"]
    finally:
        running.stop(0.5)
