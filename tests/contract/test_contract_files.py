"""The public contract stays what it says: stubs match the protos, buf lint is clean, layers hold."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"
BASELINE = ROOT / "proto-baseline" / "cashier-v1.binpb"


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "protogen.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    fresh = tmp_path / "cashier" / "v1"
    committed = ROOT / "cashier" / "v1"
    names = sorted(p.name for p in fresh.glob("*_pb2*.py*"))
    assert names == sorted(p.name for p in committed.glob("*_pb2*.py*")), "stub files differ: run `make proto`"
    _, mismatch, errors = filecmp.cmpfiles(fresh, committed, names, shallow=False)
    assert mismatch == [] and errors == [], f"stale stubs {mismatch}: run `make proto` and commit the result"
    assert (committed / "cashier_service_pb2.pyi").exists() and (committed / "cashier_service_pb2_grpc.pyi").exists()


def test_buf_lint_is_clean() -> None:
    if not BUF.exists():
        pytest.fail("buf is not installed: `make test` installs it from npm (.tools/package.json)")
    result = subprocess.run([str(BUF), "lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_breaking_change_against_the_published_contract() -> None:
    """`buf breaking` (FILE rules) against proto-baseline/, the contract as published (`make proto-baseline`)."""
    if not BUF.exists():
        pytest.fail("buf is not installed: `make test` installs it from npm (.tools/package.json)")
    result = subprocess.run([str(BUF), "breaking", "--against", str(BASELINE)], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, "a breaking change to the public contract:\n" + result.stdout + result.stderr


def test_the_breaking_check_catches_a_removed_field(tmp_path: Path) -> None:
    """The baseline is really compared: the same check on a copy without Payment.amount fails, naming it."""
    if not BUF.exists():
        pytest.fail("buf is not installed: `make test` installs it from npm (.tools/package.json)")
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    payment = tmp_path / "proto" / "cashier" / "v1" / "payment.proto"
    lines = payment.read_text().splitlines(keepends=True)
    amount = next(i for i, line in enumerate(lines) if line.strip().startswith("int64 amount = "))
    payment.write_text("".join(lines[:amount] + lines[amount + 1:]))
    result = subprocess.run([str(BUF), "breaking", "--against", str(BASELINE)], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode != 0 and '"amount"' in result.stdout + result.stderr


def test_layers_hold() -> None:
    """import-linter: the domain imports no gRPC, SQL or plugins; the service layer no adapters."""
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert linter, "import-linter is missing from the test extras"
    result = subprocess.run([linter], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_package_imports_as_a_package() -> None:
    from cashier.v1 import cashier_service_pb2_grpc

    assert hasattr(cashier_service_pb2_grpc, "CashierServiceStub")
