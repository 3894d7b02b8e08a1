"""`cashier serve` as an operator runs it: a real process, signals, several workers, TLS, JSON logs."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cashier.v1 import payment_pb2 as pb
from tests.support import CashierClient, ServeProcess, Tenant, seed_with_cli


@pytest.fixture
def seeded(database_url: str) -> Tenant:
    return seed_with_cli(database_url)


@pytest.fixture
def serve(database_url: str, seeded: Tenant) -> Iterator[ServeProcess]:
    process = ServeProcess(database_url)
    try:
        yield process
    finally:
        process.kill()


def test_sigterm_lets_in_flight_calls_finish(serve: ServeProcess, seeded: Tenant) -> None:
    with grpc.insecure_channel(serve.grpc_target) as channel:
        client = CashierClient(channel, seeded)
        slow = client.stub.CreatePayment.future(
            client.request(client=pb.Client(platform=pb.PLATFORM_IN_APP_BROWSER, app_name="slow-prepare")),
            metadata=client.metadata())
        time.sleep(0.5)  # the call is now inside the channel's 1.5 s prepare()
        stopped = threading.Thread(target=serve.terminate)
        stopped.start()
        assert slow.result(timeout=10).payment.channel == "test_faulty"
        stopped.join(20)
    assert serve.proc.returncode == 0
    logs = [json.loads(line) for line in serve.stderr_lines if line.startswith("{")]
    assert any(e["msg"] == "stopped" for e in logs)


def test_logs_are_json_lines_with_request_ids_and_no_keys(serve: ServeProcess, seeded: Tenant) -> None:
    with grpc.insecure_channel(serve.grpc_target) as channel:
        client = CashierClient(channel, seeded)
        client.stub.CreatePayment(client.request(), metadata=[*client.metadata(), ("x-request-id", "req-abc-1")])
        with pytest.raises(grpc.RpcError):
            client.stub.CreatePayment(client.request(), metadata=[("authorization", "Bearer ck_app_wrong-key-xyz")])
    serve.terminate()
    text = "".join(serve.stderr_lines)
    entries = [json.loads(line) for line in serve.stderr_lines if line.strip()]
    rpc = [e for e in entries if e["msg"] == "rpc"]
    assert [(e["method"], e["code"]) for e in rpc] == [("CreatePayment", "OK"), ("CreatePayment", "UNAUTHENTICATED")]
    assert rpc[0]["request_id"] == "req-abc-1" and rpc[1]["request_id"]
    assert seeded.key not in text and "wrong-key-xyz" not in text


def test_two_workers_share_one_port_and_one_metrics_view(database_url: str, seeded: Tenant) -> None:
    process = ServeProcess(database_url, "--workers", "2")
    try:
        with grpc.insecure_channel(process.grpc_target) as channel:
            client = CashierClient(channel, seeded)
            for _ in range(30):
                client.create()
        # Each scrape may land on either worker; both must report the numbers of all workers.
        for _ in range(4):
            body = httpx.get(f"{process.http_url}/metrics").text
            assert 'cashier_rpc_calls_total{code="OK",method="CreatePayment"} 30.0' in body
        assert process.terminate() == 0
    finally:
        process.kill()
    serving = {json.loads(line)["pid"] for line in process.stderr_lines if '"msg": "serving"' in line}
    assert len(serving) == 2


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_on_both_faces(database_url: str, seeded: Tenant, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    process = ServeProcess(database_url, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        port = process.grpc_target.rsplit(":", 1)[1]
        with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            assert CashierClient(channel, seeded).create().state == pb.PAYMENT_STATE_PENDING
        http_port = process.http_url.rsplit(":", 1)[1]
        assert httpx.get(f"https://localhost:{http_port}/healthz", verify=ssl.create_default_context(cafile=str(cert))).status_code == 200
        with grpc.insecure_channel(process.grpc_target) as plain, pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=2)
    finally:
        process.kill()
