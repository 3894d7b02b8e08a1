"""`cashier sandbox` as an operator runs it: it prints its seller PID and a `[channels.alipay]` table the gateway
loads as it is (through the gateway's own configuration loader and the Alipay settings parser), and with
`--key-file` it keeps its key across starts and says so."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from Crypto.PublicKey import RSA

from channels.alipay.sandbox.cli import sandbox_command
from channels.alipay.toolkit import AlipaySettings
from gateway.config import load_settings

from .conftest import APP_ID

CASHIER = str(Path(sys.executable).with_name("cashier"))


class Run:
    """A `cashier sandbox` subprocess, read up to the end of what it announces."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([CASHIER, "sandbox", "--port", "0", "--time-scale", "0.001", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        table_seen = False
        while True:  # the announcement ends with the table, then a blank line
            line = self.proc.stdout.readline()
            assert line, f"cashier sandbox ended early: {''.join(self.lines)}"
            self.lines.append(line.rstrip("\n"))
            table_seen = table_seen or line.startswith("[channels.alipay]")
            if table_seen and not line.strip():
                break
        self.url = self.lines[0].split(" on ", 1)[1]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def table_text(self) -> str:
        return "\n".join(self.lines[self.lines.index("[channels.alipay]"):]) + "\n"

    def line_starting(self, prefix: str) -> str:
        return next(line for line in self.lines if line.startswith(prefix))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=15)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        run.stop()


@pytest.fixture
def app_private_key_file(tmp_path: Path, app_key: RSA.RsaKey) -> Path:
    path = tmp_path / "app_private_key.pem"
    path.write_bytes(app_key.export_key(pkcs=8))
    path.chmod(0o600)
    return path


def test_printed_and_written_configuration_drive_the_gateway_rail(tmp_path, runs, app_private_key_file):
    key_file, config_file = tmp_path / "sandbox_key.pem", tmp_path / "cashier.toml"
    runs.append(Run("--app", f"{APP_ID}={app_private_key_file}", "--key-file", str(key_file),
                    "--write-config", str(config_file)))
    first = runs[0]
    # the seller PID, as the sandbox itself reports it
    seller = httpx.get(f"{first.url}/sandbox/apps", timeout=5).json()["apps"][0]["seller_id"]
    assert first.line_starting(f"App {APP_ID}: ") == f"App {APP_ID}: seller_id (PID) {seller}"
    assert f"new key, written to {key_file}" in first.line_starting("Sandbox key: ")
    assert key_file.stat().st_mode & 0o077 == 0  # the sandbox's private key is the owner's only

    # the written file, through the gateway's loader and the Alipay settings parser
    table = load_settings(config_file, env={}).channels["alipay"]
    assert table == tomllib.loads(first.table_text())["channels"]["alipay"]  # printed == written
    assert (table["gateway_url"], table["app_id"], table["seller_id"]) == (f"{first.url}/gateway.do", APP_ID, seller)
    assert table["alipay_public_key_file"] == str(tmp_path / "alipay_public_key.pem")
    assert Path(table["alipay_public_key_file"]).read_text() == httpx.get(f"{first.url}/sandbox/public-key").text
    settings = AlipaySettings.from_table(table)
    # and it works: the rail signs with the app key and verifies the sandbox's answer with the printed key
    client = settings.client()
    try:
        answer = client.precreate(out_trade_no="CFG1", total_amount_fen=100, subject="config")
    finally:
        client.close()
    assert answer.qr_code and answer.qr_code.startswith(first.url)
    first.stop()
    runs.clear()

    # started again with the same --key-file: the same key, so the configuration stays valid
    runs.append(Run("--app", f"{APP_ID}={app_private_key_file}", "--key-file", str(key_file)))
    again = runs[0]
    assert f"loaded from {key_file}" in again.line_starting("Sandbox key: ")
    assert httpx.get(f"{again.url}/sandbox/public-key").text == Path(table["alipay_public_key_file"]).read_text()
    printed = tomllib.loads(again.table_text())["channels"]["alipay"]
    assert printed == {**table, "gateway_url": f"{again.url}/gateway.do"}


def test_without_a_key_file_it_says_the_key_is_new_each_start(tmp_path, runs, app_key):
    public = tmp_path / "app_public_key.pem"
    public.write_bytes(app_key.publickey().export_key())
    runs.append(Run("--app", f"{APP_ID}={public}"))
    assert "new key for this run only" in runs[0].line_starting("Sandbox key: ")
    assert "--key-file" in runs[0].line_starting("Sandbox key: ")
    # registered by its public key only: the table cannot name the private key, and says which one it needs
    assert f"the private key of {public}" in runs[0].table_text()


def test_write_config_never_overwrites_a_foreign_file(tmp_path, app_private_key_file):
    config_file = tmp_path / "cashier.toml"
    config_file.write_text("[database]\nurl = \"sqlite:///x.db\"\n")
    result = CliRunner().invoke(sandbox_command, ["--port", "0", "--app", f"{APP_ID}={app_private_key_file}",
                                                  "--write-config", str(config_file)])
    assert result.exit_code == 2 and "not written by `cashier sandbox`" in result.output  # before listening
    assert config_file.read_text() == "[database]\nurl = \"sqlite:///x.db\"\n"


def test_cert_mode_writes_the_three_certificate_files_and_a_table_that_transfers(tmp_path, runs,
                                                                                app_private_key_file):
    config_file = tmp_path / "cashier.toml"
    runs.append(Run("--app", f"{APP_ID}={app_private_key_file}", "--cert-mode", "--account", "corp@example.com=示例公司",
                    "--write-config", str(config_file)))
    run = runs[0]
    assert "Certificate mode:" in run.line_starting("Certificate mode:")
    table = load_settings(config_file, env={}).channels["alipay"]
    assert table == tomllib.loads(run.table_text())["channels"]["alipay"]
    assert "alipay_public_key_file" not in table
    assert table["app_cert_file"] == str(tmp_path / f"appCertPublicKey_{APP_ID}.crt")
    assert table["alipay_cert_file"] == str(tmp_path / "alipayCertPublicKey_RSA2.crt")
    assert table["alipay_root_cert_file"] == str(tmp_path / "alipayRootCert.crt")
    settings = AlipaySettings.from_table(table)
    assert settings.certificate_mode
    client = settings.client()
    try:
        done = client.transfer(out_biz_no="CLI1", trans_amount_fen=10, payee_identity="corp@example.com",
                               payee_identity_type="ALIPAY_LOGON_ID", payee_name="示例公司")
        refused = client.transfer(out_biz_no="CLI2", trans_amount_fen=10, payee_identity="corp@example.com",
                                  payee_identity_type="ALIPAY_LOGON_ID", payee_name="张三")
    finally:
        client.close()
    assert done.outcome.succeeded, done.outcome
    assert refused.outcome.sub_code == "PAYEE_USER_INFO_ERROR"
