"""The conformance kit (channels.testing) run as a channel author runs it: `pytest --cashier-channel NAME` in
a subprocess, in an empty folder, with the kit found through its `pytest11` entry point.

It passes the built-in channels (against the local Alipay sandbox it starts itself) and the test plugin's
well-behaved channels, and fails each deliberately broken channel of tests/plugins/cashier_broken_channels by
the rule it breaks, and by that rule only. The broken package is made findable by a dist-info written here
from its pyproject's entry points, on the subprocess's path alone: it never reaches this environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

BROKEN = ROOT / "tests" / "plugins" / "cashier_broken_channels"


def install_broken(site: Path) -> Path:
    """What pip would leave for the entry points: a dist-info beside the package's source on the path."""
    project = tomllib.loads((BROKEN / "pyproject.toml").read_text())["project"]
    info = site / "cashier_broken_channels-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items()) for group, eps in groups.items()))
    return site


def run_kit(folder: Path, name: str, *args: str, path: tuple[Path, ...] = ()) -> tuple[int, str, set[str]]:
    """Exit code, output, and the kit's tests that failed (as `test_rule[channel]`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "--cashier-channel", name, *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=180, check=False)
    output = proc.stdout + proc.stderr
    failed = set(re.findall(r"^FAILED \S*::(test_\w+(?:\[[^\]]*\])?)", output, re.MULTILINE))
    return proc.returncode, output, failed


def passed(output: str) -> set[str]:
    return set(re.findall(r"^PASSED \S*::(test_\w+(?:\[[^\]]*\])?)", output, re.MULTILINE))


@pytest.mark.parametrize("channel", ["mobile", "pc", "shared_link"])
def test_the_kit_passes_every_builtin_channel(tmp_path: Path, channel: str) -> None:
    code, output, failed = run_kit(tmp_path, channel)
    assert code == 0 and not failed, output
    # The checks that need a rail ran against the kit's sandbox, not skipped.
    for rule in ("test_offer_answers_offer_or_decline", "test_prepare_returns_a_buyer_action",
                 "test_forged_notifications_are_refused", "test_genuine_notification_parses",
                 "test_tampered_notifications_are_refused", "test_unpaid_payment_is_never_reported_paid",
                 "test_rail_down_is_never_success",
                 # Through a real gateway and the sandbox: created, paid, notified, refunded.
                 "test_end_to_end_create_payment", "test_end_to_end_paid_notification", "test_end_to_end_refund"):
        assert f"{rule}[{channel}]" in passed(output), output
    assert f"{channel}: offer() 2400 calls" in output  # the time budget is reported


@pytest.mark.parametrize("channel", ["test_app", "test_web"])
def test_the_kit_passes_the_test_plugins_channels(tmp_path: Path, channel: str) -> None:
    code, output, failed = run_kit(tmp_path, channel)
    assert code == 0 and not failed, output
    assert f"test_prepare_returns_a_buyer_action[{channel}]" in passed(output)


def test_the_kit_fails_each_broken_channel_by_the_rule_it_breaks(tmp_path: Path) -> None:
    code, output, failed = run_kit(tmp_path, "broken_channels", path=(BROKEN, install_broken(tmp_path / "site")))
    assert code == 1, output
    assert failed == {
        "test_offer_never_raises[raises_in_offer]",
        "test_offer_answers_offer_or_decline[no_reason]",
        "test_offer_is_deterministic[flaky]",
        "test_offer_stays_within_declared_platforms_and_scenarios[undeclared]",
        "test_channel_declares_what_it_serves[bad_attributes]",
        "test_prepare_returns_a_buyer_action[relative_redirect]",
        "test_forged_notifications_are_refused[gullible]",
        "test_unpaid_payment_is_never_reported_paid[optimist]",
        "test_rail_down_is_never_success[optimist]",
    }, output
    for telling in (
        "raised ValueError: invalid literal for int()",
        "returned None; return Decline('why not') so that the route trace says why (in 2000 cases",
        "answers the same request differently",
        "offered, but IOS_APP is not in the channel's declared platforms/scenarios",
        "actions has 'teleport', which is not one of",
        "display_name is '': give a name",
        "Redirect url '/pay/pay_",
        "raised OverflowError: amount too big for our rail for a payment it offered to serve",
        "a form claiming success with no signature: ACCEPTED as",
        "refund() answered SUCCEEDED ('surely refunded') for a payment that was never paid",
        "query() answered SUCCEEDED",
        "'optimist' reports money that never moved with the rail unreachable",
    ):
        assert telling in output, telling
    assert "test_prepare_returns_a_buyer_action[good]" in passed(output)
    # Their rail is not Alipay: the purchase is created through a real gateway, and paying it is skipped, saying why.
    assert "test_end_to_end_create_payment[good]" in passed(output)
    assert "not run: the kit pays only through the Alipay sandbox it starts itself" in output


@pytest.mark.parametrize(("entry_point", "rule", "telling"), [
    ("broken_import", "test_entry_point_loads", "failed to load: No module named 'cashier_kit_no_such_dependency'"),
    ("broken_hook", "test_hook_returns_channels", "returned {'name': 'a dict is not a channel'}, which is not a Channel"),
    ("broken_names", "test_channel_names_are_unique_and_well_formed", "'acme pay/v2' does not match"),
    ("broken_config", "test_configuration_errors_name_the_key",
     "[channels.broken_config] limit = 'not-a-number': start-up failed, but the error does not name 'limit'"),
    ("no_such_channel", "test_entry_point_loads", "no 'cashier.channels' entry point named 'no_such_channel'"),
])
def test_the_kit_fails_a_broken_registration_by_its_rule(tmp_path: Path, entry_point: str, rule: str,
                                                         telling: str) -> None:
    config = tmp_path / "cashier.toml"
    config.write_text("[channels.broken_config]\nlimit = 5\n")
    code, output, failed = run_kit(tmp_path, entry_point, f"--cashier-config={config}",
                                   path=(BROKEN, install_broken(tmp_path / "site")))
    assert code == 1 and failed == {rule}, output
    assert telling in output


def test_without_the_option_the_kit_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and "1 test collected" in proc.stdout, proc.stdout + proc.stderr
    assert "checks.py" not in proc.stdout


# A channel author's conftest: the rail's genuine notifications and tampered ones, for a rail the kit has never
# seen (the broken package's HMAC-signed test rail).
AUTHOR_CONFTEST = """
import hashlib, hmac
import pytest
from cashier_broken_channels import RAIL_SECRET
from channels.testing import NotificationSample

def sign(payload):
    return payload + b"&sig=" + hmac.new(RAIL_SECRET, payload, hashlib.sha256).hexdigest().encode()

class HmacRail:
    def genuine_notification(self, payment):
        return NotificationSample(sign(f"payment={payment.id}&fen={payment.amount}".encode()), "text/plain")

    def tampered_notifications(self, payment):
        genuine = self.genuine_notification(payment).body
        return {"amount changed after signing": NotificationSample(
                    genuine.replace(f"fen={payment.amount}".encode(), f"fen={payment.amount + 1}".encode()),
                    "text/plain"),
                "signed with another secret": NotificationSample(
                    f"payment={payment.id}&fen={payment.amount}&sig=00ff".encode(), "text/plain")}

@pytest.fixture(scope="session")
def cashier_rail():
    return HmacRail()
"""


@pytest.mark.parametrize(("channel", "verdict"), [("good_notifier", "PASSED"), ("gullible", "FAILED")])
def test_an_authors_rail_fixture_drives_the_notification_checks(tmp_path: Path, channel: str, verdict: str) -> None:
    (tmp_path / "conftest.py").write_text(AUTHOR_CONFTEST)
    code, output, failed = run_kit(tmp_path, channel, path=(BROKEN, install_broken(tmp_path / "site")))
    assert f"{verdict} ::checks.py::test_tampered_notifications_are_refused[{channel}]" in output, output
    if verdict == "FAILED":
        assert "amount changed after signing: ACCEPTED as" in output
    else:
        assert code == 0 and not failed, output
        assert f"PASSED ::checks.py::test_genuine_notification_parses[{channel}]" in output, output
