"""The ``cashier sandbox`` command, the state file, and exact amount handling."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from click.testing import CliRunner

from channels.alipay.sandbox.cli import sandbox_command
from channels.alipay.sandbox.values import AmountError, fen_to_yuan, yuan_to_fen

QUERY = "alipay.trade.query"


def test_cli_help_lists_the_options():
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--app", "--key-file", "--time-scale", "--state-file"):
        assert option in result.output


def test_cli_rejects_a_bad_app_option(tmp_path):
    result = CliRunner().invoke(sandbox_command, ["--app", "no-equals-sign"])
    assert result.exit_code != 0 and "APP_ID=" in result.output
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    result = CliRunner().invoke(sandbox_command, ["--app", f"2021={bad}"])
    assert result.exit_code != 0 and "not an RSA public key" in result.output


def test_cli_serves_on_a_free_port(tmp_path, app_key):
    pem = tmp_path / "app.pem"
    pem.write_bytes(app_key.publickey().export_key())
    key_file = tmp_path / "sandbox-key.pem"
    code = "from channels.alipay.sandbox.cli import sandbox_command; sandbox_command()"
    args = [sys.executable, "-c", code, "--port", "0", "--app", f"2021000000000001={pem}",
            "--key-file", str(key_file), "--time-scale", "0.001"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("Alipay sandbox listening on http://127.0.0.1:"), first
        url = first.split(" on ")[1].strip()
        printed = "".join(proc.stdout.readline() for _ in range(12))
        assert key_file.exists()  # generated because it was missing
        served = httpx.get(f"{url}/sandbox/public-key", timeout=5).text
        assert served.strip().splitlines()[1] in printed
        assert httpx.get(f"{url}/sandbox/apps", timeout=5).json()["apps"][0]["app_id"] == "2021000000000001"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    # uvicorn shuts down gracefully, then re-raises SIGTERM, so the exit status is -15
    assert "Application shutdown complete" in err, err


def test_state_file_survives_a_restart(spawn, tmp_path, out_trade_no):
    state = tmp_path / "state.json"
    handle, c = spawn(state_file=state)
    c.call("alipay.trade.precreate", {"out_trade_no": out_trade_no, "total_amount": "3.00", "subject": "持久"})
    httpx.post(f"{handle.url}/sandbox/trades/{out_trade_no}/pay").raise_for_status()
    c.call("alipay.trade.refund", {"out_trade_no": out_trade_no, "refund_amount": "1.00", "out_request_no": "R"})
    handle.stop()
    _, again = spawn(state_file=state)
    answer = again.call(QUERY, {"out_trade_no": out_trade_no})
    assert (answer["trade_status"], answer["total_amount"]) == ("TRADE_SUCCESS", "3.00")
    refund = again.call("alipay.trade.refund",
                        {"out_trade_no": out_trade_no, "refund_amount": "1.00", "out_request_no": "R"})
    assert refund["fund_change"] == "N"


@pytest.mark.parametrize(
    ("value", "fen"),
    [("0.01", 1), ("1", 100), ("1.5", 150), ("19.99", 1999), ("100000000.00", 10_000_000_000),
     (Decimal("0.07"), 7), (3, 300)],
)
def test_yuan_to_fen_is_exact(value, fen):
    assert yuan_to_fen(value) == fen
    assert fen_to_yuan(fen) == f"{fen // 100}.{fen % 100:02d}"


@pytest.mark.parametrize("value", ["", "01.00", "1.", ".5", "1.001", "1,00", " 1.00", "NaN", True, None, 1.5,
                                   Decimal("0.001")])
def test_yuan_to_fen_refuses(value):
    with pytest.raises(AmountError):
        yuan_to_fen(value)


def test_negative_yuan():
    assert fen_to_yuan(-505) == "-5.05"
