"""`cashier channels new NAME`: write a new, installable channel package that passes the conformance kit as
generated (a `cashier.commands` entry point, so the core names no scaffold).

Rendered with Jinja2, which Unified Cashier already ships (the hosted checkout page uses it), rather than
copier: one dependency fewer for every channel author, and the templates are small enough to live here as
strings, which also keeps them inside the installed package without package-data rules.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from jinja2 import DictLoader, Environment, StrictUndefined

#: A channel name that is also a Python identifier part and a distribution name part.
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

TEMPLATES = {
    "pyproject.toml": '''\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "cashier-channel-{{ dist }}"
version = "0.1.0"
description = "{{ title }}: a payment channel for Unified Cashier"
requires-python = ">=3.11"
dependencies = ["unified-cashier"]

# How the gateway (and the conformance kit) finds the channel.
[project.entry-points."cashier.channels"]
{{ name }} = "{{ package }}"

[tool.setuptools]
packages = ["{{ package }}"]

[tool.pytest.ini_options]
# `pytest` runs your tests and the conformance kit on this channel.
addopts = "--cashier-channel {{ name }}"
''',
    "README.md": '''\
# {{ title }}

A payment channel for Unified Cashier, registered as the `cashier.channels` entry point `{{ name }}`.

```sh
pip install -e .
pytest                      # your tests and the conformance kit (pytest --cashier-channel {{ name }})
```

Configure it in the gateway's configuration file:

```toml
[channels.{{ name }}]
min_amount = 100                                   # fen: below it the channel declines, saying why
checkout_url = "https://pay.example.com/checkout"  # where the buyer is sent (replace with your rail's)
```

Unified Cashier's docs/writing-a-channel.md takes this package to a real channel (on the Alipay toolkit), and
docs/channel_kit.md lists the conformance kit's rules. To check notifications on a rail of your own, define a
`cashier_rail` fixture in tests/conftest.py (see `channels.testing.Rail`).
''',
    "PACKAGE/__init__.py": '''\
"""{{ title }}: registers the `{{ name }}` channel from the `[channels.{{ name }}]` table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.contract import Channel, hookimpl
from {{ package }}.channel import {{ cls }}, Settings


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]], gateway_url: str) -> list[Channel]:
    # A wrong table stops start-up with a message naming the key (Settings.from_table raises ValueError).
    return [{{ cls }}(Settings.from_table(config.get("{{ name }}", {})), gateway_url)]
''',
    "PACKAGE/channel.py": '''\
"""The `{{ name }}` channel: offers every client a redirect to the rail's checkout, from a minimum amount."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from channels.contract import Decline, Offer, PaymentView, Platform, Redirect, RouteRequest, Scenario, format_minor

_KNOWN = ("min_amount", "checkout_url")


@dataclass(frozen=True)
class Settings:
    """The `[channels.{{ name }}]` table."""

    min_amount: int = 1  # fen
    checkout_url: str = "https://pay.example.com/checkout"

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> Settings:
        unknown = sorted(set(table) - set(_KNOWN))
        if unknown:
            raise ValueError(f"[channels.{{ name }}] has unknown keys: {', '.join(unknown)} (known: {', '.join(_KNOWN)})")
        min_amount = table.get("min_amount", cls.min_amount)
        if not isinstance(min_amount, int) or isinstance(min_amount, bool) or min_amount < 1:
            raise ValueError(f"[channels.{{ name }}] min_amount must be a whole number of fen >= 1, not {min_amount!r}")
        checkout_url = table.get("checkout_url", cls.checkout_url)
        if not isinstance(checkout_url, str) or urlsplit(checkout_url).scheme not in ("http", "https"):
            raise ValueError(f"[channels.{{ name }}] checkout_url must be an http(s) URL, not {checkout_url!r}")
        return cls(min_amount, checkout_url.rstrip("/"))


class {{ cls }}:
    name = "{{ name }}"
    display_name = "{{ title }}"
    actions = ("redirect",)
    platforms = tuple(Platform)
    scenarios = tuple(Scenario)

    def __init__(self, settings: Settings, gateway_url: str):
        self.settings = settings
        self.gateway_url = gateway_url  # for the notification URL: {gateway_url}/notify/{{ name }}/<merchant>

    def offer(self, request: RouteRequest) -> Offer | Decline:
        if request.amount < self.settings.min_amount:
            return Decline(f"{format_minor(request.amount)} is below the minimum "
                           f"{format_minor(self.settings.min_amount)}")
        return Offer(10, "{{ title }} takes any client by redirect")

    def prepare(self, payment: PaymentView) -> Redirect:
        # Replace with your rail's call: our payment id is unique across merchants, send it as your order number.
        return Redirect(f"{self.settings.checkout_url}/{payment.id}")
''',
    "tests/test_{{ name }}.py": '''\
"""Your own tests of the channel; `pytest` also runs the conformance kit (see pyproject's addopts)."""

from channels.contract import ClientInfo, Decline, MerchantView, Offer, Platform, RouteRequest, Scenario
from {{ package }}.channel import {{ cls }}, Settings


def ask(amount: int) -> Offer | Decline:
    channel = {{ cls }}(Settings(min_amount=100), "http://127.0.0.1:8080")
    return channel.offer(RouteRequest(MerchantView("m", "M"), amount, "CNY", ClientInfo(Platform.PC_BROWSER),
                                      Scenario.OTHER))


def test_below_the_minimum_it_declines_saying_why() -> None:
    answer = ask(99)
    assert isinstance(answer, Decline) and "below the minimum" in answer.reason
    assert isinstance(ask(100), Offer)
''',
}


def render_channel(name: str, folder: Path) -> list[Path]:
    """Write the package for channel `name` into `folder` (created; must be empty). Returns the files."""
    if not NAME.fullmatch(name):
        raise ValueError(f"channel name {name!r}: use lower-case letters, digits and _, starting with a letter "
                         "(at most 40)")
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty: choose a new folder")
    package = f"cashier_channel_{name}"
    values = {"name": name, "package": package, "dist": name.replace("_", "-"),
              "cls": "".join(part.title() for part in name.split("_")) + "Channel",
              "title": name.replace("_", " ").title()}
    env = Environment(loader=DictLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                      autoescape=False)
    written = []
    for template in TEMPLATES:
        relative = env.from_string(template.replace("PACKAGE", package)).render(values)
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(values), encoding="utf-8")
        written.append(path)
    return written


@click.command("new")
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the package (default: ./cashier-channel-NAME).")
def new(name: str, folder: Path | None) -> None:
    """Write a new channel package NAME that passes the conformance kit as generated."""
    target = folder or Path(f"cashier-channel-{name.replace('_', '-')}")
    try:
        files = render_channel(name, target)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"wrote {len(files)} files to {target}; next:\n  cd {target}\n  pip install -e .\n  pytest")
