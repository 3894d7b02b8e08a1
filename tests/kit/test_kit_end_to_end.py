"""The kit's end-to-end purchase fails a channel that passes every other rule but cannot be paid through a real
gateway, naming the rule and what to fix (tests/kit/cashier_kit_e2e_broken: a notify URL of another channel)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.kit.test_kit import run_kit

PACKAGE = Path(__file__).resolve().parent / "cashier_kit_e2e_broken"


def install(site: Path) -> Path:
    """What pip would leave for the entry point: a dist-info beside the package's source on the path."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    info = site / "cashier_kit_e2e_broken-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text(
        "[cashier.channels]\n" + "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["cashier.channels"].items()))
    return site


def test_a_channel_that_notifies_the_wrong_url_fails_the_end_to_end_rule_only(tmp_path: Path) -> None:
    code, output, failed = run_kit(tmp_path, "e2e_broken", path=(PACKAGE, install(tmp_path / "site")))
    assert code == 1, output
    assert failed == {"test_end_to_end_paid_notification[wrong_notify_url]"}, output
    assert "the channel gave Alipay the notify URL" in output and "/notify/mobile/m-kit-" in output
    assert "Fix: hand the rail the notify URL the gateway gives the channel" in output
    # Created through the gateway; the refund is not attempted on an unpaid payment, and says why.
    assert "PASSED ::checks.py::test_end_to_end_create_payment[wrong_notify_url]" in output
    assert "not run: the payment was not paid (see test_end_to_end_paid_notification)" in output
