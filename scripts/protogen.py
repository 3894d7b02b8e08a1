"""Generate the committed Python stubs in cashier/v1 from proto/cashier/v1.

`make proto` runs this; the stub-drift test runs it into a temporary folder and compares.
The generator versions are pinned in pyproject.toml's test extras so that output is reproducible.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("cashier") / "v1"


def generate(out_dir: Path) -> list[Path]:
    """Write *_pb2.py, *_pb2.pyi and, for services, *_pb2_grpc.py(i) under out_dir/cashier/v1."""
    protos = sorted((PROTO_ROOT / PACKAGE).glob("*.proto"))
    (out_dir / PACKAGE).mkdir(parents=True, exist_ok=True)
    bindir = Path(sys.executable).parent
    messages = [str(p.relative_to(PROTO_ROOT)) for p in protos]
    services = [m for m in messages if m.endswith("_service.proto")]
    includes = [f"-I{PROTO_ROOT}", f"-I{Path(protoc.__file__).parent / '_proto'}"]
    _run([*includes, f"--python_out={out_dir}", f"--pyi_out={out_dir}", *messages])
    _run([
        *includes,
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *services,
    ])
    return sorted(p for p in (out_dir / PACKAGE).iterdir() if p.suffix in {".py", ".pyi"})


def _run(args: list[str]) -> None:
    if protoc.main(["protoc", *args]) != 0:
        raise SystemExit(f"protoc failed: {' '.join(args)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT, help="root to write cashier/v1 under")
    args = parser.parse_args()
    target = args.out / PACKAGE
    for old in target.glob("*_pb2*.py*"):
        old.unlink()
    for path in generate(args.out):
        print(path.relative_to(args.out))
    init = target / "__init__.py"
    if not init.exists():
        shutil.copyfile(ROOT / PACKAGE / "__init__.py", init)


if __name__ == "__main__":
    main()
