"""The pytest plugin (entry point ``pytest11: cashier_channel_kit``): options, and the kit's tests added to the
session when ``--cashier-channel`` is given. Without it this module registers two options and nothing else,
so installing Unified Cashier changes no other test suite.

The checks live in channels/testing/checks.py, collected as a test module of their own so that fixtures
(the author's ``cashier_rail``) and parametrisation work as in any test file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from channels.testing.kit import Kit

KIT_KEY = pytest.StashKey["Kit"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cashier", "Unified Cashier channel conformance kit")
    group.addoption("--cashier-channel", metavar="NAME", default=None,
                    help="check the channel plugin whose 'cashier.channels' entry point (or channel) is NAME")
    group.addoption("--cashier-config", metavar="FILE", default=None,
                    help="the gateway configuration file whose [channels.*] tables the channel is given; write "
                         "--cashier-config=FILE (pytest reads a separate FILE as a test path when finding its rootdir)")


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("cashier_channel")
    if not name:
        return
    from channels.testing.kit import Kit

    config.stash[KIT_KEY] = Kit(name, config.getoption("cashier_config"))
    config.pluginmanager.register(_KitSession(), "cashier-channel-kit-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    kit = config.stash.get(KIT_KEY, None)
    if kit is not None:
        kit.close()


def kit_of(config: pytest.Config) -> Kit:
    kit = config.stash[KIT_KEY]
    kit.load()
    return kit


class _KitSession:
    """Hooks that exist only while the kit runs."""

    @pytest.hookimpl(tryfirst=True)  # first, so that -k and -m select among the kit's tests too
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        from channels.testing import checks

        module = pytest.Module.from_parent(session, path=Path(checks.__file__))
        items.extend(item for item in session.genitems(module) if isinstance(item, pytest.Item))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        kit = kit_of(config)
        where = f"entry point {kit.entry_point!r}" if kit.entry_point else "no entry point found"
        names = ", ".join(c.name for c in kit.registration.channels) or "none"
        return [f"cashier channel kit: {kit.name!r} ({where}); channels checked: {names}"]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
        kit = config.stash[KIT_KEY]
        lines = kit.timing_report() + [f"note: {note}" for note in kit.notes]
        if lines:
            terminalreporter.section("cashier channel kit")
            for line in lines:
                terminalreporter.write_line(line)
