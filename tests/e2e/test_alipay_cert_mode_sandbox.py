"""The rail in certificate mode against the Alipay sandbox, over real HTTP.

The app is configured as an operator would: the three certificate files the sandbox issued, read through the
toolkit's `[channels.alipay]` settings. Trades, refunds and notifications keep working in certificate mode;
transfers pay a known account only under its holder's name; a key-mode app cannot transfer at all; and when
the sandbox rotates its certificate, the next answer names the new one, the rail downloads it once, checks it
against the root file and goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from channels.alipay.rail import (
    AlipayClient,
    AlipayConfigError,
    CertificateCredentials,
    PublicKey,
    PublicKeyCredentials,
    RetryPolicy,
)
from channels.alipay.toolkit import AlipaySettings
from tests.e2e.alipay_world import (
    App,
    Order,
    Receiver,
    World,
    new_rsa_key,
    private_pem,
    public_pem,
    start_world,
    unique,
    wait_until,
)

CERT_APP_ID = "2021000000000301"
KEY_APP_ID = "2021000000000302"
HOLDER_LOGON_ID = "ent-payee@example.com"
HOLDER_NAME = "杭州示例科技有限公司"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = start_world(time_scale=0.0005)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def settings(world: World, tmp_path_factory: pytest.TempPathFactory) -> AlipaySettings:
    """A certificate-mode app: registered with its public key, the sandbox certifies it; the files go on disk."""
    folder = tmp_path_factory.mktemp("alipay_cert_mode")
    key = new_rsa_key()
    answer = world.admin.post("/sandbox/apps", json={"app_id": CERT_APP_ID, "public_key": public_pem(key),
                                                     "certificate_mode": True})
    assert answer.status_code == 201, answer.text
    files = answer.json()
    paths = {
        "app_private_key_file": folder / "app_private_key.pem",
        "app_cert_file": folder / f"appCertPublicKey_{CERT_APP_ID}.crt",
        "alipay_cert_file": folder / "alipayCertPublicKey_RSA2.crt",
        "alipay_root_cert_file": folder / "alipayRootCert.crt",
    }
    paths["app_private_key_file"].write_bytes(private_pem(key))
    for name, field in (("app_cert_file", "app_cert"), ("alipay_cert_file", "alipay_cert"),
                        ("alipay_root_cert_file", "alipay_root_cert")):
        paths[name].write_text(files[field])
    table = {"gateway_url": world.gateway_url, "app_id": CERT_APP_ID, "seller_id": files["seller_id"],
             **{name: str(path) for name, path in paths.items()}}
    world.admin.post("/sandbox/accounts", json={"logon_id": HOLDER_LOGON_ID, "name": HOLDER_NAME}).raise_for_status()
    return AlipaySettings.from_table(table)


class Calls:
    """The gateway methods the rail sent, in order (read from each request's query)."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def hook(self, request: httpx.Request) -> None:
        self.methods.append(parse_qs(urlsplit(str(request.url)).query).get("method", [""])[0])


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def alipay(settings: AlipaySettings, calls: Calls) -> Iterator[AlipayClient]:
    http = httpx.Client(timeout=5.0, event_hooks={"request": [calls.hook]})
    with AlipayClient(settings.gateway_url, settings.credentials, http=http,
                      retry=RetryPolicy(attempts=2, backoff_seconds=0.01)) as client:
        yield client
    http.close()


@pytest.fixture(scope="module")
def receiver(settings: AlipaySettings) -> Iterator[Receiver]:
    assert settings.seller_id is not None
    r = Receiver(settings.credentials, settings.seller_id)  # type: ignore[arg-type]  # any AlipayCredentials
    r.start()
    try:
        yield r
    finally:
        r.stop()


def current_sn(world: World) -> str:
    return str(world.admin.get("/sandbox/certificates").json()["alipay_cert_sn"])


def paid_trade(world: World, alipay: AlipayClient, receiver: Receiver, amount_fen: int) -> str:
    out_trade_no = unique("CERT")
    receiver.orders[out_trade_no] = Order(amount_fen)
    created = alipay.precreate(out_trade_no=out_trade_no, total_amount_fen=amount_fen, subject="证书模式",
                               notify_url=receiver.url)
    assert created.outcome.succeeded, created.outcome
    assert created.qr_code and world.scan(created.qr_code).status_code == 200
    world.pay(out_trade_no, CERT_APP_ID)
    return out_trade_no


def test_trade_refund_and_notification_in_certificate_mode(
    world: World, settings: AlipaySettings, alipay: AlipayClient, receiver: Receiver
) -> None:
    assert settings.certificate_mode and isinstance(settings.credentials, CertificateCredentials)
    out_trade_no = paid_trade(world, alipay, receiver, 2_000)

    wait_until(lambda: any(d.acked for d in receiver.for_order(out_trade_no)))  # verified with the certificate
    found = alipay.query(out_trade_no=out_trade_no)
    assert found.outcome.succeeded and found.trade_status is not None and found.trade_status.is_paid
    refunded = alipay.refund(out_trade_no=out_trade_no, out_request_no="R1", refund_amount_fen=500)
    assert refunded.outcome.succeeded, refunded.outcome
    assert refunded.refund_fee_fen == 500


def test_the_app_signs_in_one_mode_so_a_key_mode_request_of_a_certificate_app_is_refused(
    world: World, settings: AlipaySettings
) -> None:
    credentials = settings.credentials
    assert isinstance(credentials, CertificateCredentials)
    # Same app, same key, even Alipay's key taken from its certificate: only the serial numbers are missing.
    private = credentials._app_private_key
    alipay_key = PublicKey(credentials.mode.alipay.current.public_key, "alipay certificate")
    key_mode = PublicKeyCredentials(CERT_APP_ID, private, alipay_key)
    with world.client(App(CERT_APP_ID, "", private), credentials=key_mode) as alipay:
        answer = alipay.query(out_trade_no=unique("NONE"))
    assert answer.outcome.failed and answer.outcome.sub_code == "isv.missing-app-cert-sn"


def test_transfer_to_a_known_account_under_its_holders_name_and_its_query(
    world: World, alipay: AlipayClient
) -> None:
    out_biz_no = unique("VERIFY")
    done = alipay.transfer(out_biz_no=out_biz_no, trans_amount_fen=37, payee_identity=HOLDER_LOGON_ID,
                           payee_identity_type="ALIPAY_LOGON_ID", payee_name=HOLDER_NAME, order_title="账户验证")
    assert done.outcome.succeeded, done.outcome
    assert done.status == "SUCCESS" and done.order_id

    again = alipay.transfer(out_biz_no=out_biz_no, trans_amount_fen=37, payee_identity=HOLDER_LOGON_ID,
                            payee_identity_type="ALIPAY_LOGON_ID", payee_name=HOLDER_NAME, order_title="账户验证")
    assert again.outcome.succeeded and again.order_id == done.order_id  # the first result, no second payment
    recorded = [t for t in world.admin.get("/sandbox/transfers").json()["transfers"] if t["out_biz_no"] == out_biz_no]
    assert [(t["trans_amount"], t["status"]) for t in recorded] == [("0.37", "SUCCESS")]

    found = alipay.transfer_query(out_biz_no=out_biz_no)
    assert found.outcome.succeeded and found.status == "SUCCESS"
    assert (found.trans_amount_fen, found.order_id) == (37, done.order_id)


def test_a_wrong_holder_name_is_refused_by_alipay_and_the_query_says_fail(world: World, alipay: AlipayClient) -> None:
    out_biz_no = unique("VERIFY")
    refused = alipay.transfer(out_biz_no=out_biz_no, trans_amount_fen=45, payee_identity=HOLDER_LOGON_ID,
                              payee_identity_type="ALIPAY_LOGON_ID", payee_name="张三")
    assert refused.outcome.failed, refused.outcome
    assert (refused.outcome.code, refused.outcome.sub_code) == ("40004", "PAYEE_USER_INFO_ERROR")

    found = alipay.transfer_query(out_biz_no=out_biz_no)
    assert found.outcome.failed and found.outcome.reason == "transfer_failed"
    assert (found.status, found.error_code) == ("FAIL", "PAYEE_USER_INFO_ERROR")
    assert alipay.transfer_query(out_biz_no=unique("NEVER")).outcome.grpc_status == "NOT_FOUND"
    unknown = alipay.transfer(out_biz_no=unique("VERIFY"), trans_amount_fen=10, payee_identity="fail@example.com",
                              payee_identity_type="ALIPAY_LOGON_ID", payee_name="张三")
    assert unknown.outcome.failed and unknown.outcome.sub_code == "PAYEE_NOT_EXIST"


def test_a_key_mode_app_refuses_to_transfer_before_sending_anything(world: World) -> None:
    app = world.register_app(KEY_APP_ID, new_rsa_key())
    before = world.admin.get("/sandbox/transfers").json()["transfers"]
    with world.client(app) as alipay:
        assert not alipay.certificate_mode
        with pytest.raises(AlipayConfigError, match="needs certificate mode.*isv.missing-app-cert-sn"):
            alipay.transfer(out_biz_no=unique("KEY"), trans_amount_fen=100, payee_identity=HOLDER_LOGON_ID,
                            payee_identity_type="ALIPAY_LOGON_ID", payee_name=HOLDER_NAME)
    assert world.admin.get("/sandbox/transfers").json()["transfers"] == before


def test_a_key_mode_configuration_cannot_start_what_needs_transfers(world: World, tmp_path: Path) -> None:
    key = new_rsa_key()
    (tmp_path / "app.pem").write_bytes(private_pem(key))
    (tmp_path / "alipay.pem").write_text(world.admin.get("/sandbox/public-key").text)
    key_mode = AlipaySettings.from_table({"gateway_url": world.gateway_url, "app_id": KEY_APP_ID,
                                          "app_private_key_file": str(tmp_path / "app.pem"),
                                          "alipay_public_key_file": str(tmp_path / "alipay.pem")})
    with pytest.raises(AlipayConfigError, match=r"\[channels.alipay\] .*needs certificate mode"):
        key_mode.require_transfers()


def test_rotation_mid_run_downloads_once_checks_and_goes_on(
    world: World, settings: AlipaySettings, alipay: AlipayClient, calls: Calls, receiver: Receiver
) -> None:
    assert isinstance(settings.credentials, CertificateCredentials)
    keyring = settings.credentials.mode.alipay
    first = alipay.transfer_query(out_biz_no=unique("NEVER"))
    assert first.outcome.grpc_status == "NOT_FOUND" and keyring.current.sn == current_sn(world)
    old_sn = keyring.current.sn

    rotated = world.admin.post("/sandbox/certificates/rotate").json()["alipay_cert_sn"]
    assert rotated != old_sn
    calls.methods.clear()
    out_biz_no = unique("ROT")
    done = alipay.transfer(out_biz_no=out_biz_no, trans_amount_fen=10, payee_identity=HOLDER_LOGON_ID,
                           payee_identity_type="ALIPAY_LOGON_ID", payee_name=HOLDER_NAME)

    assert done.outcome.succeeded, done.outcome  # the answer, signed by the new certificate, was believed
    assert calls.methods == ["alipay.fund.trans.uni.transfer", "alipay.open.app.alipaycert.download"]
    assert keyring.current.sn == rotated and keyring.get(old_sn) is not None
    assert alipay.transfer_query(out_biz_no=out_biz_no).outcome.succeeded
    assert calls.methods[2:] == ["alipay.fund.trans.common.query"]  # no second download
    # Notifications are now signed with the new certificate's key too, and verify.
    out_trade_no = paid_trade(world, alipay, receiver, 800)
    wait_until(lambda: any(d.acked for d in receiver.for_order(out_trade_no)))


def test_concurrent_calls_after_a_rotation_download_the_new_certificate_once(
    world: World, settings: AlipaySettings, alipay: AlipayClient, calls: Calls
) -> None:
    assert isinstance(settings.credentials, CertificateCredentials)
    rotated = world.admin.post("/sandbox/certificates/rotate").json()["alipay_cert_sn"]
    calls.methods.clear()
    barrier = threading.Barrier(8)

    def query(_: int) -> bool:
        barrier.wait()
        return alipay.query(out_trade_no=unique("NONE")).outcome.sub_code == "ACQ.TRADE_NOT_EXIST"

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(query, range(8)))

    assert answers == [True] * 8  # every answer verified with the new certificate
    assert calls.methods.count("alipay.open.app.alipaycert.download") == 1
    assert settings.credentials.mode.alipay.current.sn == rotated
