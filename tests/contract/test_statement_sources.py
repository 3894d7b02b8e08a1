"""The statement-source part of the plugin contract: the hook, what the gateway accepts from it, and the built-in
Alipay plugin's entry point. The Alipay source against the sandbox is tests/e2e/test_alipay_statements.py."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import channels.alipay_statements
from channels.contract import (
    LineKind,
    StatementKind,
    StatementLine,
    StatementNotReady,
    StatementSource,
    hookimpl,
)
from gateway.plugins import PluginError, collect_statement_sources, list_plugins, make_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2024, 1, 2, 10, 0, tzinfo=timezone.utc)


class BankStatements:
    name = "bank"

    def lines(self, day: date, kind: StatementKind) -> Iterator[StatementLine]:
        if day > date(2024, 1, 2):
            raise StatementNotReady(f"the bank has no statement for {day} yet")
        return self.read_file(b"", kind)

    def read_file(self, data: bytes, kind: StatementKind) -> Iterator[StatementLine]:
        yield StatementLine(LineKind.TRANSFER, "po_1_1", "b-1", -3_000, 0, AT)


def test_hook_cashier_register_statement_sources() -> None:
    seen: list[Any] = []

    class Plugin:
        @hookimpl
        def cashier_register_statement_sources(self, config: Any) -> list[StatementSource]:
            seen.append(config)
            return [BankStatements()] if "bank" in config else []

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Plugin()])
    assert collect_statement_sources(pm, {}) == []
    sources = collect_statement_sources(pm, {"bank": {"url": "https://bank.example"}})
    assert [s.name for s in sources] == ["bank"] and isinstance(sources[0], StatementSource)
    assert seen == [{}, {"bank": {"url": "https://bank.example"}}]
    assert list(sources[0].lines(date(2024, 1, 2), StatementKind.ACCOUNT)) == [
        StatementLine(LineKind.TRANSFER, "po_1_1", "b-1", -3_000, 0, AT)]
    with pytest.raises(StatementNotReady, match="no statement for 2024-01-03 yet"):
        sources[0].lines(date(2024, 1, 3), StatementKind.ACCOUNT)


def test_statement_source_registration_failures_name_the_plugin() -> None:
    class Raises:
        @hookimpl
        def cashier_register_statement_sources(self) -> None:
            raise ValueError("[channels.bank] url: an https:// URL")

    class NotASource:
        @hookimpl
        def cashier_register_statement_sources(self) -> list[object]:
            return [object()]

    class Bare:
        @hookimpl
        def cashier_register_statement_sources(self) -> object:
            return BankStatements()

    class Twice:
        @hookimpl
        def cashier_register_statement_sources(self) -> list[object]:
            return [BankStatements(), BankStatements()]

    for plugin, message in (
        (Raises(), r"statement plugin '.*Raises' failed to register its statement sources: \[channels.bank\] url"),
        (NotASource(), "which is not a StatementSource"),
        (Bare(), "returned BankStatements, not a list of statement sources"),
        (Twice(), "registers statement source 'bank' twice"),
    ):
        with pytest.raises(PluginError, match=message):
            collect_statement_sources(make_plugin_manager(load_entrypoints=False, plugins=[plugin]), {})


def test_the_alipay_statement_plugin_is_an_entry_point_like_the_built_in_channels() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["cashier.plugins"]["alipay_statements"] == "channels.alipay_statements"
    pm = make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_statements])
    assert [i.hooks for i in list_plugins(pm)] == [("cashier_register_statement_sources",)]
    assert collect_statement_sources(pm, {}) == []  # no [channels.alipay]: nothing registered, nothing raised
    with pytest.raises(PluginError, match=r"statement plugin 'channels.alipay_statements' .*needs app_id"):
        collect_statement_sources(pm, {"alipay": {"gateway_url": "https://openapi.alipay.com/gateway.do"}})
