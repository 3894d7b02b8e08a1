"""The conformance kit for channel authors: a pytest plugin that checks a channel the way the gateway uses it.

Installed with Unified Cashier (the ``pytest11`` entry point ``cashier_channel_kit``) and idle unless asked::

    pytest --cashier-channel NAME [--cashier-config cashier.toml]

``NAME`` is the ``cashier.channels`` entry point of the plugin under test, or the name of a channel it
registers. The kit loads it through that entry point with the gateway's own plugin manager
(``gateway.plugins``), hands it the ``[channels.*]`` tables of ``--cashier-config``, and adds one test per
rule (registration, routing, ``prepare``, and each optional capability the channel declares), each failing
with what to fix. Without ``[channels.alipay]`` in the configuration the kit starts a local Alipay sandbox
and adds that table, so Alipay-based channels are checked against a real (local) rail.

Checks that need the rail to produce a genuine notification use the author's ``cashier_rail`` fixture (see
:class:`channels.testing.rail.Rail`); for Alipay-based channels the kit signs them with its sandbox's key.
A check that cannot run says why in its skip reason.

This is the one package under ``channels`` that imports the gateway (import-linter's one exception): it is a
test tool run by channel authors' test suites, never loaded by the gateway.
"""

from channels.testing.rail import NotificationSample, Rail

__all__ = ["NotificationSample", "Rail"]
