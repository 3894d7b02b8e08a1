"""Where webhooks may go, at send time: the sender resolves once, checks every address, and connects to the
very address it checked. Names are resolved by a resolver of the test's own (test names → the addresses an
attacker would aim at); connections are recorded, so a refusal is seen to happen before any socket
connects. Real traffic goes only to a receiver on loopback."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.config import ConfigError, load_settings
from gateway.webhook_http import HttpWebhookSender
from gateway.webhook_targets import RefusedTarget, TargetPolicy
from tests.e2e.receiver import Receiver

ATTACKS = {
    "db.test": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "v6-loopback.test": ["::1"],
    "internal.test": ["10.0.0.1"],
    "nowhere.test": ["0.0.0.0"],
    "shared.test": ["100.64.0.1"],
    "multicast.test": ["224.0.0.1"],
    "mapped.test": ["::ffff:10.0.0.1"],
    "zone.test": ["fe80::1%1"],
    "mixed.test": ["93.184.216.34", "10.0.0.1"],  # one public, one private: refused as a whole
}


class Resolver:
    """A DNS of the test's own: name → addresses (a list per call, to play DNS rebinding)."""

    def __init__(self, names: dict[str, list[str]] | None = None, answers: list[list[str]] | None = None):
        self.names = names or {}
        self.answers = answers or []
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if self.answers:
            return self.answers.pop(0)
        if host not in self.names:
            raise socket.gaierror(f"{host} unknown to the test")
        return list(self.names[host])


class Connections:
    """Records every connection the sender makes, then makes it (only loopback is ever reached)."""

    def __init__(self) -> None:
        self.made: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int, timeout: float | None, local: str | None, options: Any
                 ) -> httpcore.NetworkStream:
        self.made.append((host, port))
        assert host in ("127.0.0.1", "::1"), f"a test connection to {host}"
        return httpcore.SyncBackend().connect_tcp(host, port, timeout, local, options)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


def sender(policy: TargetPolicy, connections: Connections, timeout: float = 5.0) -> HttpWebhookSender:
    return HttpWebhookSender(timeout, policy, connect=connections)


@pytest.mark.parametrize("host", sorted(ATTACKS))
def test_a_name_resolving_to_an_internal_address_is_refused_before_connecting(host: str) -> None:
    connections = Connections()
    resolver = Resolver(ATTACKS)
    for scheme in ("https", "http"):
        s = sender(TargetPolicy(allow_http=True, resolver=resolver), connections)
        try:
            result = s.send(f"{scheme}://{host}:8443/hooks", b"{}", {})
        finally:
            s.close()
        assert not result.ok and "refused" in result.detail and "allow_hosts" in result.detail, result.detail
    assert connections.made == []  # nothing left the machine, nothing reached loopback
    with pytest.raises(RefusedTarget):  # and registering it is refused too
        TargetPolicy(resolver=resolver).check_url(f"https://{host}/hooks")


def test_the_sender_connects_to_the_address_it_checked_keeping_the_name(receiver: Receiver) -> None:
    port = int(receiver.url.split(":")[2].split("/")[0])
    resolver = Resolver({"hooks.test": ["127.0.0.1"]})
    connections = Connections()
    s = sender(TargetPolicy(allow_http=True, allow_hosts=("127.0.0.1",), resolver=resolver), connections)
    try:
        result = s.send(f"http://hooks.test:{port}/hooks/cashier", b'{"id":"evt_1"}', {"Cashier-Event-Id": "evt_1"})
    finally:
        s.close()
    assert result.ok and result.detail == "HTTP 200"
    assert resolver.calls == ["hooks.test"]  # resolved once, by the check; never again by the socket
    assert connections.made == [("127.0.0.1", port)]
    [(headers, body)] = receiver.accepted()
    assert headers["Host"] == f"hooks.test:{port}" and body == b'{"id":"evt_1"}'


def test_dns_rebinding_after_registration_is_refused_at_send_time() -> None:
    # Public when the URL is registered, the metadata service when the webhook is sent.
    resolver = Resolver(answers=[["93.184.216.34"], ["169.254.169.254"]])
    policy = TargetPolicy(resolver=resolver)
    assert policy.check_url("https://rebind.test/hooks") == ("rebind.test", 443)
    connections = Connections()
    s = sender(policy, connections)
    try:
        result = s.send("https://rebind.test/hooks", b"{}", {})
    finally:
        s.close()
    assert not result.ok and "169.254.169.254" in result.detail and "link-local" in result.detail
    assert connections.made == []


def test_the_answers_body_is_never_kept(receiver: Receiver) -> None:
    receiver.status, receiver.answer = 500, b"FATAL: password authentication failed for user postgres"
    s = sender(TargetPolicy(allow_http=True, allow_hosts=("127.0.0.1",)), Connections())
    try:
        result = s.send(receiver.url, b"{}", {})
    finally:
        s.close()
    assert (result.ok, result.detail) == (False, "HTTP 500")


def test_an_answer_dripped_a_byte_at_a_time_is_cut_off_at_the_attempts_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:  # a status line one byte every 0.3 s: each read is quick, the whole is endless
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\n" * 20:
                if stop.wait(0.3):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    s = sender(TargetPolicy(allow_http=True, allow_hosts=("127.0.0.1",)), Connections(), timeout=1.5)
    started = time.monotonic()
    try:
        result = s.send(f"http://127.0.0.1:{port}/hooks", b"{}", {})
    finally:
        elapsed = time.monotonic() - started
        s.close()
        stop.set()
        thread.join(5)
        listener.close()
    assert not result.ok and "Timeout" in result.detail, result.detail
    assert elapsed < 4.0  # 1.5 s and some slack; before: one read timeout per byte, ~100 s


@pytest.mark.parametrize(("url", "why"), [
    ("http://hooks.example.com/", "https://"),
    ("ftp://hooks.example.com/", "https://"),
    ("https://user:pass@hooks.example.com/", "user name or password"),
    ("https://hooks.example.com@10.0.0.1/", "user name or password"),
    ("https://127.0.0.1:5432/", "literal address"),
    ("https://[::1]/", "literal address"),
    ("https://169.254.169.254/latest/meta-data/", "literal address"),
    ("https://0.0.0.0:22/", "literal address"),
    ("https://93.184.216.34/", "literal address"),
    ("https://localhost:8080/metrics", "loopback"),
    ("https://db.localhost/", "loopback"),
    ("https:///nohost", "host name"),
    ("https://hooks.example.com:99999/", "not a valid URL"),
    ("https://hooks.example.com/" + "a" * 2048, "2048"),
])
def test_registration_refuses_with_a_reason(url: str, why: str) -> None:
    with pytest.raises(RefusedTarget, match=why):
        TargetPolicy(resolver=Resolver()).check_url(url)


def test_the_operator_allows_named_private_targets_and_networks() -> None:
    resolver = Resolver({"hooks.internal": ["10.20.0.5"], "billing.internal": ["10.30.0.9"],
                         "public.test": ["93.184.216.34"]})
    policy = TargetPolicy(allow_hosts=("hooks.internal", "10.30.0.0/16"), resolver=resolver)
    assert policy.check_url("https://hooks.internal/x") == ("hooks.internal", 443)
    assert policy.check_url("https://billing.internal:8443/x") == ("billing.internal", 8443)
    assert policy.check_url("https://public.test/x") == ("public.test", 443)
    assert policy.check_url("https://unresolvable.test/x") == ("unresolvable.test", 443)  # checked when sent
    with pytest.raises(RefusedTarget, match="https://"):
        policy.check_url("http://hooks.internal/x")  # allow_http is its own switch
    with pytest.raises(ValueError, match="neither an address"):
        TargetPolicy(allow_hosts=("bad host!",))


def test_the_configuration_refuses_a_lease_an_attempt_would_outlive_and_a_bad_allow_entry() -> None:
    with pytest.raises(ConfigError, match="lease_seconds must exceed timeout_seconds"):
        load_settings(None, env={}, overrides={"webhooks": {"timeout_seconds": 5, "lease_seconds": 5}})
    with pytest.raises(ConfigError, match=r"webhooks.allow_hosts.*'bad host!'"):
        load_settings(None, env={}, overrides={"webhooks": {"allow_hosts": ["10.0.0.0/8", "bad host!"]}})
    defaults = load_settings(None, env={}).webhooks
    assert (defaults.allow_http, defaults.allow_hosts, defaults.timeout_seconds) == (False, [], 5.0)


def https_endpoint(tmp_path: Path, name: str) -> tuple[ThreadingHTTPServer, Path, list[tuple[str | None, str]]]:
    """An HTTPS endpoint on loopback with a self-signed certificate for `name`; records (SNI, Host)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    seen: list[tuple[str | None, str]] = []
    sni: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda _sock, server_name, _ctx: sni.append(server_name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append((sni[-1] if sni else None, self.headers.get("Host", "")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, cert_file, seen


def test_tls_goes_to_the_checked_address_with_sni_and_verification_on_the_name(tmp_path: Path) -> None:
    server, cert_file, seen = https_endpoint(tmp_path, "hooks.test")
    port = server.server_address[1]
    resolver = Resolver({"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    connections = Connections()
    s = HttpWebhookSender(5.0, TargetPolicy(allow_hosts=("127.0.0.1",), resolver=resolver), connect=connections,
                          ssl_context=ssl.create_default_context(cafile=str(cert_file)))
    try:
        good = s.send(f"https://hooks.test:{port}/hooks", b"{}", {})
        wrong_name = s.send(f"https://other.test:{port}/hooks", b"{}", {})  # same address, another name
    finally:
        s.close()
        server.shutdown()
        server.server_close()
    assert (good.ok, good.detail) == (True, "HTTP 204")
    assert seen == [("hooks.test", f"hooks.test:{port}")]  # SNI and Host carry the name, not 127.0.0.1
    assert not wrong_name.ok and "CERTIFICATE_VERIFY_FAILED" in wrong_name.detail  # verified against the name
    assert connections.made == [("127.0.0.1", port), ("127.0.0.1", port)]
