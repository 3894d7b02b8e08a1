"""The built-in buyer_message plugin, installed by entry point as in production, against a local
fan-service inbox, on SQLite and PostgreSQL: after a buyer pays at the Alipay sandbox, the merchant's
account sends them one message, retried while the inbox fails, without ever holding up the payment."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from channels.buyer_message.sender import BuyerMessageSettings
from gateway.bootstrap import make_lifecycle_runner
from gateway.runtime import RunningGateway
from tests.e2e.receiver import Receiver
from tests.e2e.test_payment_completion import pay_at_alipay, wait_for_state
from tests.e2e.test_webhooks import wait_until
from tests.support import CASHIER, CashierClient, make_settings, running_gateway

TOKEN = "test-only-inbox-token"


@pytest.fixture
def inbox() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, inbox: Receiver,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile,buyer_message")
    monkeypatch.setenv("INBOX_TOKEN", TOKEN)
    settings = make_settings(
        database_url, channels={"alipay": alipay.channel_table},
        plugins={"buyer_message": {"url": inbox.url, "token_env": "INBOX_TOKEN", "timeout_seconds": 2}},
        hooks={"every_seconds": 0.05, "retry_base_seconds": 0.05, "retry_cap_seconds": 0.2},
        recovery={"every_seconds": 3600})
    with running_gateway(settings, housekeeping=True) as running:
        yield running


def test_the_buyer_gets_one_thank_you_message_after_paying(app: CashierClient, alipay: LocalAlipay,
                                                           inbox: Receiver, gateway: RunningGateway) -> None:
    inbox.status = 503  # the inbox is having a bad minute
    payment = app.create(amount=4200, subject="Oolong 250 g")
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    # The payment does not wait for the message.
    assert wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED
    wait_until(lambda: len(inbox.requests) >= 2)
    assert inbox.accepted() == []
    inbox.status = 200
    wait_until(lambda: len(inbox.accepted()) == 1)
    headers, body = inbox.accepted()[0]
    message = json.loads(body)
    trade = httpx.get(f"{alipay.url}/sandbox/trades/{payment.name.rsplit('/', 1)[1]}").json()
    assert message["to"]["buyer_id"] == trade["buyer_id"] != ""
    assert message["from"] == {"merchant_id": app.tenant.merchant_id, "merchant_name": "Tea House"}
    assert "Tea House" in message["text"] and "42.00 CNY" in message["text"] and "Oolong 250 g" in message["text"]
    assert message["payment"]["amount"] == 4200
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    # Every attempt carried the same idempotency key: the outbox event's id.
    keys = {h["Idempotency-Key"] for h, _, _ in inbox.requests}
    assert keys == {message["message_id"]} and message["message_id"].startswith("evt_")
    # Once taken, never sent again.
    make_lifecycle_runner(gateway.gateway).run_until_done()
    assert len(inbox.accepted()) == 1


def test_an_unreachable_inbox_never_holds_up_payments_or_webhooks(app: CashierClient, alipay: LocalAlipay,
                                                                 inbox: Receiver, gateway: RunningGateway) -> None:
    inbox.stop()  # connection refused from now on
    payment = app.create(amount=1500)
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    assert wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED
    runner = make_lifecycle_runner(gateway.gateway)
    wait_until(lambda: any(r.attempts >= 2 for r in runner.list_runs()))
    run = runner.list_runs()[0]
    assert run.plugin == "buyer_message" and "inbox unreachable" in run.last_error
    assert TOKEN not in run.last_error


def test_settings_name_the_field_that_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"\[plugins.buyer_message\] url"):
        BuyerMessageSettings.from_table({"url": "ftp://inbox"})
    settings = BuyerMessageSettings.from_table({"url": "https://inbox.example/v1", "token_env": "T"}, env={"T": "x"})
    assert (settings.url, settings.token) == ("https://inbox.example/v1", "x")


def test_a_wrong_inbox_url_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "cashier.toml"
    config.write_text('[plugins.buyer_message]\nurl = "inbox.example.com/v1"\n', encoding="utf-8")
    result = subprocess.run([CASHIER, "--config", str(config), "serve", "--grpc", "127.0.0.1:0", "--http",
                             "127.0.0.1:0"], env={**os.environ, "CASHIER_DATABASE_URL": f"sqlite:///{tmp_path}/c.db",
                                                  "CASHIER_LOAD_CHANNELS": "buyer_message"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "plugin 'buyer_message' refused its configuration: [plugins.buyer_message] url" in result.stderr
    assert "Traceback" not in result.stderr
