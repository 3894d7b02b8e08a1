"""A small world for the rail-vs-sandbox tests: keys, a sandbox on a free port, apps, a merchant's
notification receiver. Everything talks over real HTTP on 127.0.0.1; nothing here signs or verifies
(the rail and the sandbox do that with their own, independent code).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from channels.alipay.rail import (
    AlipayClient,
    NotificationError,
    PrivateKey,
    PublicKey,
    PublicKeyCredentials,
    RetryPolicy,
    TradeNotification,
    check_against_order,
    parse_trade_notification,
)
from channels.alipay.rail.notifications import decode_notification_body
from channels.alipay.sandbox import SandboxConfig, start_in_thread
from channels.alipay.sandbox.server import SandboxHandle


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass
class App:
    app_id: str
    seller_id: str
    private_key: PrivateKey


class World:
    """One sandbox plus the Alipay public key as the merchant would copy it from the console."""

    def __init__(self, handle: SandboxHandle) -> None:
        self.handle = handle
        self.admin = httpx.Client(base_url=handle.url, timeout=10)
        # The one-line Base64 SPKI form Alipay's console shows: the rail must read it as is.
        bare = self.admin.get("/sandbox/public-key", params={"format": "bare"})
        bare.raise_for_status()
        self.alipay_public_key = PublicKey.from_text(bare.text, source="sandbox console")

    @property
    def gateway_url(self) -> str:
        return self.handle.gateway_url

    def close(self) -> None:
        self.admin.close()
        self.handle.stop()

    # --- apps and clients --------------------------------------------------------------------------
    def register_app(self, app_id: str, key: rsa.RSAPrivateKey) -> App:
        answer = self.admin.post("/sandbox/apps", json={"app_id": app_id, "public_key": public_pem(key)})
        assert answer.status_code == 201, answer.text
        return App(app_id, answer.json()["seller_id"], PrivateKey.from_text(private_pem(key), source="test"))

    def credentials(self, app: App) -> PublicKeyCredentials:
        return PublicKeyCredentials(app.app_id, app.private_key, self.alipay_public_key)

    def client(
        self,
        app: App,
        *,
        read_timeout: float = 5.0,
        attempts: int = 3,
        notify_url: str | None = None,
        credentials: PublicKeyCredentials | None = None,
    ) -> AlipayClient:
        return AlipayClient(
            self.gateway_url,
            credentials or self.credentials(app),
            connect_timeout=2.0,
            read_timeout=read_timeout,
            retry=RetryPolicy(attempts=attempts, backoff_seconds=0.01),
            notify_url=notify_url,
        )

    # --- admin API ----------------------------------------------------------------------------------
    def faults(self, **doc: Any) -> dict[str, Any]:
        answer = self.admin.post("/sandbox/faults", json=doc)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def reset_faults(self) -> None:
        self.admin.delete("/sandbox/faults").raise_for_status()

    def trade(self, key: str, app_id: str) -> httpx.Response:
        return self.admin.get(f"/sandbox/trades/{key}", params={"app_id": app_id})

    def pay(self, key: str, app_id: str, **body: Any) -> dict[str, Any]:
        answer = self.admin.post(f"/sandbox/trades/{key}/pay", params={"app_id": app_id}, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def scan(self, qr_code: str) -> httpx.Response:
        """What the buyer's phone does with the QR code: open it (the sandbox's checkout page)."""
        return self.admin.get(qr_code)

    def notifications(self, out_trade_no: str) -> list[dict[str, Any]]:
        answer = self.admin.get("/sandbox/notifications", params={"out_trade_no": out_trade_no})
        answer.raise_for_status()
        return answer.json()["notifications"]

    def wait_notification(self, out_trade_no: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            notes = self.notifications(out_trade_no)
            if notes and notes[0]["state"] != "pending":
                return notes[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"notification for {out_trade_no} still pending: {notes}")
            time.sleep(0.05)


def start_world(time_scale: float, *, notify_refunds: bool = False) -> World:
    config = SandboxConfig(port=0, time_scale=time_scale, notify_timeout=3.0, notify_refunds=notify_refunds)
    handle = start_in_thread(config)
    try:
        return World(handle)
    except BaseException:
        handle.stop()
        raise


# --- the merchant's notification endpoint -----------------------------------------------------------


@dataclass
class Delivery:
    notify_id: str | None
    out_trade_no: str | None
    error: type[Exception] | None
    acked: bool
    note: TradeNotification | None = None


@dataclass
class Order:
    total_amount_fen: int
    ack_after: int = 1  # answer "success" on the N-th delivery that verifies


@dataclass
class Receiver:
    """A real HTTP server doing what the gateway will: parse + verify with the rail, check the order,
    answer ``success`` only when satisfied (and, for the test, only from the N-th good delivery on)."""

    credentials: PublicKeyCredentials
    seller_id: str
    orders: dict[str, Order] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/alipay/notify"

    def handle(self, body: bytes, content_type: str | None) -> bool:
        try:
            raw = decode_notification_body(body, content_type)
        except NotificationError:
            raw = {}
        # Recorded as sent, even when the rail refuses it, so retries of one notification can be compared.
        notify_id, out_trade_no = raw.get("notify_id"), raw.get("out_trade_no")
        try:
            note = parse_trade_notification(body, content_type, self.credentials)
            with self.lock:
                order = self.orders.get(note.out_trade_no)
            if order is None:
                raise AssertionError(f"notification for an unknown order {note.out_trade_no}")
            check_against_order(
                note,
                out_trade_no=note.out_trade_no,
                total_amount_fen=order.total_amount_fen,
                seller_id=self.seller_id,
            )
        except (NotificationError, AssertionError) as exc:
            with self.lock:
                self.deliveries.append(Delivery(notify_id, out_trade_no, type(exc), False))
            return False
        with self.lock:
            good = sum(1 for d in self.deliveries if d.notify_id == note.notify_id and d.error is None) + 1
            acked = good >= order.ack_after
            self.deliveries.append(Delivery(note.notify_id, note.out_trade_no, None, acked, note))
        return acked

    def for_order(self, out_trade_no: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.out_trade_no == out_trade_no]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    ok = receiver.handle(body, self.headers.get("Content-Type"))
                except Exception:  # noqa: BLE001 - a crash must show up as a failed delivery, not a thread error
                    ok = False
                reply = b"success" if ok else b"fail"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="notify-receiver", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(5)


# --- a browser's view of the rail's auto-submitting form ----------------------------------------------


class FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.method: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self.method = values.get("action", ""), values.get("method", "get").lower()
        elif tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")


def parse_form(html_text: str) -> FormParser:
    parser = FormParser()
    parser.feed(html_text)
    parser.close()
    assert parser.action, "no <form action=...> in the rail's HTML"
    return parser


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
