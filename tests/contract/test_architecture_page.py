"""docs/architecture.md quotes the import rules `make lint` enforces, from pyproject.toml itself."""

from __future__ import annotations

import runpy

from tests.support import ROOT


def test_the_pages_import_rules_are_pyprojects_contracts() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "import_rules.py"))
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert script["page_with_table"](page, script["table"]()) == page, \
        "docs/architecture.md's import rules differ from pyproject.toml: run scripts/import_rules.py --write"


def test_every_package_the_rules_name_is_on_the_page() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    for package in ("gateway/domain/", "gateway/service/", "gateway/storage/", "gateway/api/", "gateway/web/",
                    "channels/contract/", "channels/alipay/rail/", "channels/alipay/toolkit/",
                    "channels/alipay/sandbox/", "settlement/", "gateway/bootstrap.py"):
        assert package in page, f"docs/architecture.md does not place {package}"
