"""The Huabei instalments example (examples/channels/cashier-channel-huabei), a third-party channel made with
`cashier channels new` on the Alipay toolkit, installed as its author would and passing its own tests and the
conformance kit, the end-to-end purchase through a real gateway and the Alipay sandbox included. Installed
with `pip --target` into a temporary folder on the subprocess's path only: it never reaches this environment."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from tests.kit.test_scaffold import run
from tests.support import ROOT

EXAMPLE = ROOT / "examples" / "channels" / "cashier-channel-huabei"


def test_the_huabei_example_passes_its_tests_and_the_kit(tmp_path: Path) -> None:
    # A copy, so that building it leaves nothing (build/, *.egg-info, __pycache__) in the repository's example.
    package = tmp_path / "cashier-channel-huabei"
    shutil.copytree(EXAMPLE, package, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path / "site"
    installed = run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                     "--target", str(site), str(package)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    config = tmp_path / "cashier.toml"
    config.write_text("[channels.huabei]\nmin_amount = 60000\nperiods = 6\nseller_percent = 100\n")
    # In the package's folder, so that its pyproject's addopts (--cashier-channel huabei) apply; the installed
    # copy (on PYTHONPATH) is what the entry point loads.
    tested = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", f"--cashier-config={config}"],
                 cwd=package, site=site)
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output
    passed = set(re.findall(r"^PASSED \S*::(test_\w+(?:\[[^\]]*\])?)", output, re.MULTILINE))
    assert {"test_below_the_minimum_it_declines_saying_why",
            "test_the_order_carries_the_instalment_terms_and_alipay_accepts_it",
            "test_routed_next_to_the_builtin_mobile_channel",
            "test_entry_point_loads", "test_configuration_errors_name_the_key",
            "test_offer_answers_offer_or_decline[huabei]", "test_prepare_returns_a_buyer_action[huabei]",
            "test_genuine_notification_parses[huabei]", "test_tampered_notifications_are_refused[huabei]",
            "test_unpaid_payment_is_never_reported_paid[huabei]", "test_rail_down_is_never_success[huabei]",
            "test_end_to_end_create_payment[huabei]", "test_end_to_end_paid_notification[huabei]",
            "test_end_to_end_refund[huabei]"} <= passed, output
    lines = [line for line in (EXAMPLE / "cashier_channel_huabei" / "channel.py").read_text().splitlines()
             + (EXAMPLE / "cashier_channel_huabei" / "__init__.py").read_text().splitlines()]
    assert len(lines) <= 150  # the bound on the channel's code
