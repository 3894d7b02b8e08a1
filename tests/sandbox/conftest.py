"""Fixtures for the Alipay sandbox tests.

The client side here is written independently of the sandbox: pycryptodome, not cryptography, and its own
string-to-sign and node extraction. Every test talks to a real uvicorn server on a free port.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15

from channels.alipay.sandbox import SandboxConfig, start_in_thread

APP_ID = "2021000000000001"
OTHER_APP_ID = "2021000000000002"
CERT_APP_ID = "2021000000000003"  # registered in certificate mode by the cert_client fixture


# ---------------------------------------------------------------- a tiny Alipay client (pycryptodome)

def pairs_to_sign(params: dict[str, Any], drop: tuple[str, ...]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in drop and params[k] not in ("", None))


def rsa2_sign(key: RSA.RsaKey, text: bytes) -> str:
    return base64.b64encode(pkcs1_15.new(key).sign(SHA256.new(text))).decode()


def rsa2_ok(key: RSA.RsaKey, text: bytes, sign: str) -> bool:
    try:
        pkcs1_15.new(key).verify(SHA256.new(text), base64.b64decode(sign))
    except (ValueError, TypeError):
        return False
    return True


def node_bytes(body: bytes, key: str) -> bytes:
    """The exact bytes of the value of ``key`` in ``body``, by brace matching that skips strings."""
    marker = f'"{key}":'.encode()
    start = body.index(marker) + len(marker)
    assert body[start:start + 1] == b"{"
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(body)):
        c = body[i:i + 1]
        if in_string:
            if escaped:
                escaped = False
            elif c == b"\\":
                escaped = True
            elif c == b'"':
                in_string = False
        elif c == b'"':
            in_string = True
        elif c == b"{":
            depth += 1
        elif c == b"}":
            depth -= 1
            if depth == 0:
                return body[start:i + 1]
    raise AssertionError("unbalanced node")


class Answer:
    def __init__(self, response: httpx.Response, key: str, node: dict[str, Any], raw_node: bytes) -> None:
        self.response, self.key, self.node, self.raw_node = response, key, node, raw_node
        self.body = response.content
        self.sign = json.loads(response.content).get("sign")

    def __getitem__(self, name: str) -> Any:
        return self.node[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.node.get(name, default)


class AlipayClient:
    def __init__(self, base_url: str, app_id: str, key: RSA.RsaKey, alipay_public_key: RSA.RsaKey) -> None:
        self.base_url, self.app_id, self.key, self.alipay_key = base_url, app_id, key, alipay_public_key
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def close(self) -> None:
        self.http.close()

    def params(self, method: str, biz: dict[str, Any] | None = None, **extra: str) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
        }
        if biz is not None:
            params["biz_content"] = json.dumps(biz, ensure_ascii=False, separators=(",", ":"))
        params.update(extra)
        return params

    def sign(self, params: dict[str, str]) -> dict[str, str]:
        signed = dict(params)
        signed["sign"] = rsa2_sign(self.key, pairs_to_sign(params, ("sign",)).encode(params.get("charset", "utf-8")))
        return signed

    def send(self, params: dict[str, str], *, style: str = "split", headers: dict[str, str] | None = None,
             timeout: float | None = None) -> httpx.Response:
        """style: split (protocol in the query, biz_content in the body: the Java/Python SDKs),
        form (everything in the body), get (everything in the query)."""
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if timeout is not None:
            kwargs["timeout"] = timeout
        if style == "get":
            return self.http.get("/gateway.do", params=params, **kwargs)
        charset = params.get("charset", "utf-8")
        if style == "form":
            query, form = {}, params
        else:
            query = {k: v for k, v in params.items() if k != "biz_content"}
            form = {k: v for k, v in params.items() if k == "biz_content"}
        url = "/gateway.do" + ("?" + urlencode(query, encoding=charset) if query else "")
        kwargs["headers"]["content-type"] = f"application/x-www-form-urlencoded;charset={charset}"
        return self.http.post(url, content=urlencode(form, encoding=charset).encode("ascii"), **kwargs)

    def call(self, method: str, biz: dict[str, Any] | None = None, *, verify: bool = True, style: str = "split",
             headers: dict[str, str] | None = None, **extra: str) -> Answer:
        response = self.send(self.sign(self.params(method, biz, **extra)), style=style, headers=headers)
        return self.answer(response, method, verify=verify)

    def answer(self, response: httpx.Response, method: str, *, verify: bool = True) -> Answer:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html;charset=")
        charset = response.headers["content-type"].split("charset=")[1]
        key = method.replace(".", "_") + "_response"
        if key.encode() not in response.content:
            key = "error_response"
        raw = node_bytes(response.content, key)
        sign = json.loads(response.content).get("sign")
        if verify:
            assert sign, f"unsigned answer: {response.text}"
            assert rsa2_ok(self.verify_key(response), raw, sign), "response signature does not verify"
        return Answer(response, key, json.loads(raw.decode(charset)), raw)

    def verify_key(self, response: httpx.Response) -> RSA.RsaKey:
        return self.alipay_key

    def verify_embedded(self, text: str, key: str) -> dict[str, Any]:
        """Check a ``{"<key>":{...},"sign":"..."}`` document (e.g. the app SDK's result) and return the node."""
        raw = node_bytes(text.encode("utf-8"), key)
        assert rsa2_ok(self.alipay_key, raw, json.loads(text)["sign"])
        return json.loads(raw)

    def verify_v1(self, fields: dict[str, str]) -> bool:
        """Notification / return_url check: drop sign and sign_type, sort, verify with the Alipay key."""
        content = pairs_to_sign(fields, ("sign", "sign_type"))
        return rsa2_ok(self.alipay_key, content.encode("utf-8"), fields["sign"])


# ---------------------------------------------------------------- keys (once per session: RSA is slow)

@pytest.fixture(scope="session")
def app_key() -> RSA.RsaKey:
    return RSA.generate(2048)


@pytest.fixture(scope="session")
def other_key() -> RSA.RsaKey:
    return RSA.generate(2048)


# ---------------------------------------------------------------- the sandbox

@pytest.fixture(scope="session")
def sandbox_private_key() -> str:
    return RSA.generate(2048).export_key(pkcs=8).decode()


@pytest.fixture
def sandbox_config(app_key: RSA.RsaKey, other_key: RSA.RsaKey, sandbox_private_key: str) -> SandboxConfig:
    return SandboxConfig(
        port=0,
        private_key=sandbox_private_key,
        apps={
            APP_ID: app_key.publickey().export_key().decode(),
            # the bare one-line Base64 form Alipay's key tool prints
            OTHER_APP_ID: base64.b64encode(other_key.publickey().export_key(format="DER")).decode(),
        },
        time_scale=0.001,
        notify_timeout=2.0,
    )


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Iterator[Any]:
    handle = start_in_thread(sandbox_config)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def spawn(sandbox_config: SandboxConfig, app_key: RSA.RsaKey) -> Iterator[Any]:
    """Start another sandbox with some settings changed; returns ``(handle, AlipayClient for APP_ID)``."""
    started: list[tuple[Any, AlipayClient]] = []

    def start(**changes: Any) -> tuple[Any, AlipayClient]:
        handle = start_in_thread(dataclasses.replace(sandbox_config, **changes))
        with httpx.Client() as http:
            alipay_key = RSA.import_key(http.get(f"{handle.url}/sandbox/public-key").text)
        started.append((handle, AlipayClient(handle.url, APP_ID, app_key, alipay_key)))
        return started[-1]

    yield start
    for handle, c in started:
        c.close()
        handle.stop()


@pytest.fixture
def admin(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        yield client


@pytest.fixture
def alipay_key(admin: httpx.Client) -> RSA.RsaKey:
    return RSA.import_key(admin.get("/sandbox/public-key").text)


@pytest.fixture
def client(sandbox: Any, app_key: RSA.RsaKey, alipay_key: RSA.RsaKey) -> Iterator[AlipayClient]:
    c = AlipayClient(sandbox.url, APP_ID, app_key, alipay_key)
    yield c
    c.close()


@pytest.fixture
def other_client(sandbox: Any, other_key: RSA.RsaKey, alipay_key: RSA.RsaKey) -> Iterator[AlipayClient]:
    c = AlipayClient(sandbox.url, OTHER_APP_ID, other_key, alipay_key)
    yield c
    c.close()


@pytest.fixture
def make_client(sandbox: Any, alipay_key: RSA.RsaKey) -> Iterator[Any]:
    made: list[AlipayClient] = []

    def make(app_id: str, key: RSA.RsaKey) -> AlipayClient:
        made.append(AlipayClient(sandbox.url, app_id, key, alipay_key))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def out_trade_no() -> str:
    return "T" + uuid.uuid4().hex[:20]


# ---------------------------------------------------------------- a merchant notify endpoint

class Receiver:
    """Records POSTs; answers from ``script`` in turn (the last entry repeats)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, bytes]] = [(200, b"success")]
        self.received: list[dict[str, str]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.event = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                with receiver.event:
                    n = len(receiver.received)
                    receiver.received.append(dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)))
                    receiver.raw.append((dict(self.headers), body))
                    status, answer = receiver.script[min(n, len(receiver.script) - 1)]
                    receiver.event.notify_all()
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alipay/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:
        with self.event:
            self.event.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class CertAlipayClient(AlipayClient):
    """A certificate-mode client: both serial numbers in every request; answers verified with the key of the
    Alipay certificate their ``alipay_cert_sn`` names (fetched from the admin API, as a client downloads it)."""

    def __init__(self, base_url: str, app_id: str, key: RSA.RsaKey, files: dict[str, str]) -> None:
        super().__init__(base_url, app_id, key, RSA.import_key(first_pem(files["alipay_cert"])))
        self.files = files
        self.app_cert_sn = files["app_cert_sn"]
        self.root_cert_sn = self.http.get("/sandbox/certificates").json()["alipay_root_cert_sn"]

    def params(self, method: str, biz: dict[str, Any] | None = None, **extra: str) -> dict[str, str]:
        return {"app_cert_sn": self.app_cert_sn, "alipay_root_cert_sn": self.root_cert_sn,
                **super().params(method, biz, **extra)}

    def verify_key(self, response: httpx.Response) -> RSA.RsaKey:
        sn = json.loads(response.content).get("alipay_cert_sn")
        assert sn, "a certificate-mode answer names its certificate"
        current = self.http.get("/sandbox/certificates").json()
        assert current["alipay_cert_sn"] == sn
        return RSA.import_key(first_pem(current["alipay_cert"]))


def first_pem(text: str) -> str:
    end = "-----END CERTIFICATE-----"
    return text.split(end, 1)[0] + end


@pytest.fixture
def cert_client(sandbox: Any, app_key: RSA.RsaKey, admin: httpx.Client) -> Iterator[CertAlipayClient]:
    """CERT_APP_ID, registered in certificate mode with the app key (the sandbox issues its certificate)."""
    answer = admin.post("/sandbox/apps", json={"app_id": CERT_APP_ID, "certificate_mode": True,
                                               "public_key": app_key.publickey().export_key().decode()})
    assert answer.status_code == 201, answer.text
    c = CertAlipayClient(sandbox.url, CERT_APP_ID, app_key, answer.json())
    yield c
    c.close()
