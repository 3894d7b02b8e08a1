"""`cashier channels new NAME` writes a channel package that installs and passes the conformance kit as
generated. Done as an author would, in a temporary folder: the package goes into a `pip --target` folder on
the subprocesses' path only, so it never reaches this environment or other tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CASHIER = Path(sys.executable).parent / "cashier"


def run(args: list[str], cwd: Path, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)


def test_a_new_channel_installs_and_passes_the_kit(tmp_path: Path) -> None:
    made = run([str(CASHIER), "channels", "new", "acme"], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    package = tmp_path / "cashier-channel-acme"
    assert (package / "cashier_channel_acme" / "channel.py").is_file()
    installed = run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                     "--target", str(tmp_path / "site"), str(package)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    config = tmp_path / "cashier.toml"
    config.write_text('[channels.acme]\nmin_amount = 500\ncheckout_url = "https://pay.acme.test/checkout"\n')

    # `pytest` in the package: its own test and the kit (pyproject's addopts), with the operator's table.
    # `--cashier-config=FILE`, with "=": pytest finds its rootdir (and so the package's addopts) before plugins
    # add their options, and would take a separate FILE for a test path outside the package.
    tested = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", f"--cashier-config={config}"],
                 cwd=package, site=tmp_path / "site")
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output
    passed = set(re.findall(r"^PASSED \S*::(test_\w+(?:\[[^\]]*\])?)", output, re.MULTILINE))
    assert {"test_below_the_minimum_it_declines_saying_why", "test_entry_point_loads",
            "test_configuration_errors_name_the_key", "test_offer_answers_offer_or_decline[acme]",
            "test_prepare_returns_a_buyer_action[acme]"} <= passed, output


def test_a_bad_name_or_a_used_folder_is_refused(tmp_path: Path) -> None:
    bad = run([str(CASHIER), "channels", "new", "Acme Pay"], cwd=tmp_path)
    assert bad.returncode == 2 and "use lower-case letters" in bad.stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    used = run([str(CASHIER), "channels", "new", "acme", "--dir", "used"], cwd=tmp_path)
    assert used.returncode == 2 and "is not empty" in used.stderr
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"
