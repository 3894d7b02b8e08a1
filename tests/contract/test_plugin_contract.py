"""The plugin contract: every hook documented and tested, entry points loaded, failures named."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import channels
from channels.contract import Decline, Offer, Platform, Redirect, Scenario, hookimpl, hookspecs
from gateway.plugins import PluginError, collect_channels, list_plugins, make_plugin_manager, start_plugins

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("cashier_"))


def test_every_hook_has_the_project_prefix_and_a_docstring() -> None:
    assert HOOKS, "no hookspecs found"
    for name in HOOKS:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "Called" in doc and "Return" in doc, f"{name}'s docstring must say when it is called and what to return"


# A documented hook is an RST heading showing its signature, underlined with `~` at least as long:
#   cashier_startup(config)
#   ~~~~~~~~~~~~~~~~~~~~~~~
_HOOK_HEADING = re.compile(r"^(cashier_\w+)\(([^)\n]*)\)\n(~+)$", re.M)


def documented_hooks(text: str) -> dict[str, list[str]]:
    """Each hook heading's name and the argument names it shows, in order."""
    found: dict[str, list[str]] = {}
    for match in _HOOK_HEADING.finditer(text):
        name, arguments, underline = match.groups()
        assert len(underline) >= len(name) + len(arguments) + 2, f"{name}'s heading underline is too short"
        assert name not in found, f"{name} is documented twice"
        found[name] = [a.strip() for a in arguments.split(",") if a.strip()]
    return found


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook: str) -> None:
    """The heading shows the hookspec's real signature (as datasette's documentation test does): a plugin
    author copies it, and pluggy passes arguments by these names."""
    documented = documented_hooks((ROOT / "docs" / "plugin_hooks.rst").read_text())
    assert hook in documented, f"docs/plugin_hooks.rst lacks a heading with {hook}'s signature"
    actual = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert documented[hook] == actual, (
        f"docs/plugin_hooks.rst shows {hook}({', '.join(documented[hook])}), "
        f"the hookspec is {hook}({', '.join(actual)})")


def test_the_documentation_names_no_hook_that_does_not_exist() -> None:
    documented = documented_hooks((ROOT / "docs" / "plugin_hooks.rst").read_text())
    assert sorted(documented) == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook: str) -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    assert f"def test_hook_{hook}" in tests, f"no test_hook_{hook} test"


class PcChannel:
    name = "pc_example"
    display_name = "PC example"
    actions = ("redirect",)
    platforms = (Platform.PC_BROWSER,)
    scenarios = tuple(Scenario)

    def offer(self, request: Any) -> Offer | Decline:
        return Offer(5, "ok")

    def prepare(self, payment: Any) -> Redirect:
        return Redirect("https://pay.example/x")


def test_hook_cashier_register_channels() -> None:
    seen: dict[str, Any] = {}

    class Plugin:
        @hookimpl
        def cashier_register_channels(self, config: Any) -> list[object]:
            seen.update(config)
            return [PcChannel()] if "pc_example" in config else []

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Plugin()])
    assert collect_channels(pm, {}) == []
    found = collect_channels(pm, {"pc_example": {"level": 3}})
    assert [c.name for c in found] == ["pc_example"]
    assert seen == {"pc_example": {"level": 3}}


def test_entry_point_plugins_are_loaded_and_listed() -> None:
    pm = make_plugin_manager()
    names = [c.name for c in collect_channels(pm, {})]
    assert {"test_app", "test_web", "test_faulty"} <= set(names)
    info = {i.name: i for i in list_plugins(pm)}["test_channels"]
    assert (info.distribution, info.version, info.hooks) == (
        "cashier-test-channels", "0.0.1", ("cashier_register_channels",))


def test_allow_list_limits_what_is_loaded() -> None:
    assert collect_channels(make_plugin_manager(allow=set()), {}) == []
    assert {c.name for c in collect_channels(make_plugin_manager(allow={"test_channels"}), {})} >= {"test_web"}


def test_a_plugin_that_fails_to_load_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="broken_channel", value="no_such_module_anywhere", group="cashier.channels")
    monkeypatch.setattr("gateway.plugins.entry_points", lambda group: [broken])
    with pytest.raises(PluginError, match="'broken_channel'.*failed to load"):
        make_plugin_manager()


def test_a_plugin_with_an_unknown_hook_is_refused() -> None:
    class Typo:
        @hookimpl
        def cashier_register_channel(self) -> None:  # missing the final "s"
            return None

    with pytest.raises(PluginError, match="unknown hook"):
        make_plugin_manager(load_entrypoints=False, plugins=[Typo()])


def test_registration_errors_name_the_plugin() -> None:
    class Raises:
        @hookimpl
        def cashier_register_channels(self) -> None:
            raise ValueError("alipay key missing")

    class NotAChannel:
        @hookimpl
        def cashier_register_channels(self) -> list[object]:
            return [object()]

    with pytest.raises(PluginError, match="alipay key missing"):
        collect_channels(make_plugin_manager(load_entrypoints=False, plugins=[Raises()]), {})
    with pytest.raises(PluginError, match="not a Channel"):
        collect_channels(make_plugin_manager(load_entrypoints=False, plugins=[NotAChannel()]), {})


def test_a_channel_returned_without_a_list_is_refused_naming_the_plugin() -> None:
    """The hook returns a list; a bare channel is a plugin author's slip, told as such, not a TypeError."""

    class Bare:
        @hookimpl
        def cashier_register_channels(self) -> object:
            return PcChannel()

    with pytest.raises(PluginError, match=r"plugin '.*Bare.*' returned PcChannel, not a list of channels"):
        collect_channels(make_plugin_manager(load_entrypoints=False, plugins=[Bare()]), {})


def test_two_channels_with_one_name_are_refused() -> None:
    class Twice:
        @hookimpl
        def cashier_register_channels(self) -> list[object]:
            return [PcChannel(), PcChannel()]

    with pytest.raises(PluginError, match="twice"):
        collect_channels(make_plugin_manager(load_entrypoints=False, plugins=[Twice()]), {})


def test_a_foreign_channels_package_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(channels, "IS_CASHIER_CHANNELS")
    with pytest.raises(PluginError, match="Django Channels"):
        make_plugin_manager(load_entrypoints=False)


def test_hook_cashier_startup() -> None:
    seen: list[Any] = []

    class Careful:
        @hookimpl
        def cashier_startup(self, config: Any) -> None:
            seen.append(config)
            if config.get("careful", {}).get("level") not in ("low", "high"):
                raise ValueError("[plugins.careful] level: 'low' or 'high'")

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Careful()])
    start_plugins(pm, {"careful": {"level": "high"}})
    assert seen == [{"careful": {"level": "high"}}]
    with pytest.raises(PluginError, match=r"plugin '.*Careful' refused its configuration: \[plugins.careful\] level"):
        start_plugins(pm, {"careful": {"level": "medium"}})
