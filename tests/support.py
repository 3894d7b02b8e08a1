"""Helpers shared by the tests: a real gateway on port 0, seeded tenants, a gRPC client."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
from cashier.v1 import payment_pb2 as pb
from gateway.bootstrap import Gateway
from gateway.config import Settings, load_settings
from gateway.runtime import RunningGateway, start
from gateway.service.admin import NewMerchant
from gateway.storage.scratch import scratch_schema

ROOT = Path(__file__).resolve().parent.parent
PG_URL_ENV = "CASHIER_TEST_DATABASE_URL"


def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with scratch_schema(os.environ[PG_URL_ENV]) as url:
        yield url


@contextmanager
def running_gateway(settings: Settings, **start_options: Any) -> Iterator[RunningGateway]:
    """A real gateway (gRPC and HTTP on free ports) in this process, stopped afterwards."""
    running = start(settings, **start_options)
    try:
        yield running
    finally:
        running.stop(0.5)


def make_settings(database_url: str, **sections: dict[str, Any]) -> Settings:
    overrides: dict[str, dict[str, Any]] = {
        "server": {"grpc": "127.0.0.1:0", "http": "127.0.0.1:0", "grace_seconds": 2, "threads": 16},
        "database": {"url": database_url, "pool_size": 8},
        "logging": {"level": "WARNING"},
        # Tests send webhooks only to receivers on loopback, over plain HTTP.
        "webhooks": {"allow_hosts": ["127.0.0.1"], "allow_http": True},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_settings(None, env={}, overrides=overrides)


@dataclass
class Tenant:
    app_id: str
    key: str
    merchant_id: str

    @property
    def parent(self) -> str:
        return f"merchants/{self.merchant_id}"


def seed_tenant(gateway: Gateway, merchant_id: str = "shop-1", app_id: str = "app-1", **merchant: Any) -> Tenant:
    admin = gateway.admin
    admin.create_merchant(NewMerchant(merchant_id, merchant.pop("display_name", "Tea House"), **merchant))
    issued = admin.create_app(app_id, f"App {app_id}")
    admin.authorize_app(app_id, merchant_id)
    return Tenant(app_id, issued.key, merchant_id)


@dataclass
class CashierClient:
    """A trading app's view: a stub on a real channel, its key, its merchant."""

    channel: grpc.Channel
    tenant: Tenant
    stub: svc_grpc.CashierServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.stub = svc_grpc.CashierServiceStub(self.channel)

    def metadata(self, idempotency_key: str | None = None, key: str | None = None) -> list[tuple[str, str]]:
        md = [("authorization", f"Bearer {key or self.tenant.key}")]
        if idempotency_key is not None:
            md.append(("idempotency-key", idempotency_key))
        return md

    def request(self, **fields: Any) -> svc.CreatePaymentRequest:
        values: dict[str, Any] = {
            "parent": self.tenant.parent,
            "out_trade_no": "order-" + uuid.uuid4().hex[:12],
            "amount": 2590,
            "currency_code": "CNY",
            "subject": "Oolong tea, 250 g",
            "client": pb.Client(platform=pb.PLATFORM_IOS_APP, app_name="Platform", app_version="9.2.0"),
            "scenario": pb.SCENARIO_POST_PRODUCT_CARD,
        }
        values.update(fields)
        return svc.CreatePaymentRequest(**values)

    def create(self, idempotency_key: str | None = None, **fields: Any) -> pb.Payment:
        return self.stub.CreatePayment(self.request(**fields), metadata=tuple(self.metadata(idempotency_key))).payment


def error_details(err: grpc.RpcError) -> tuple[dict[str, str], error_details_pb2.ErrorInfo | None]:
    """(field → description from BadRequest, ErrorInfo) of a failed call."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    fields: dict[str, str] = {}
    info = None
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.update({v.field: v.description for v in bad.field_violations})
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
    return fields, info


CASHIER = str(Path(sys.executable).parent / "cashier")


def cashier_cli(*args: str, database_url: str, check: bool = True, extra_env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    """Run the real `cashier` console script against a database."""
    env = {**os.environ, "CASHIER_DATABASE_URL": database_url, **(extra_env or {})}
    result = subprocess.run([CASHIER, *args], env=env, capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"cashier {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def seed_with_cli(database_url: str, merchant_id: str = "shop-1", app_id: str = "app-1") -> Tenant:
    cashier_cli("merchants", "create", merchant_id, "--name", "Tea House", database_url=database_url)
    key = cashier_cli("apps", "create", app_id, "--name", "Shop app", database_url=database_url).stdout.strip()
    cashier_cli("apps", "authorize", app_id, merchant_id, database_url=database_url)
    return Tenant(app_id, key, merchant_id)


_ANNOUNCE = re.compile(r"gRPC on (\S+), HTTP on (\S+?)(,|$)")


class ServeProcess:
    """`cashier serve` in a subprocess on free ports; stderr (the JSON logs) is collected."""

    def __init__(self, database_url: str, *args: str, extra_env: dict[str, str] | None = None):
        env = {**os.environ, "CASHIER_DATABASE_URL": database_url, **(extra_env or {})}
        self.proc = subprocess.Popen(
            [CASHIER, "serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        match = _ANNOUNCE.search(line)
        if match is None:
            self.kill()
            raise AssertionError(f"cashier serve did not start: {line!r}\n{''.join(self.stderr_lines)}")
        self.grpc_target, self.http_url = match.group(1), match.group(2)

    def _drain(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.stderr_lines.append(line)

    def log_entries(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (by the supervisor and its workers)."""
        return [json.loads(line) for line in list(self.stderr_lines) if line.startswith("{")]

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
