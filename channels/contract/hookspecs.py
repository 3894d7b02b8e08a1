"""Every hook a Unified Cashier plugin can implement. pluggy project name: ``cashier``.

Plugins are found through the ``cashier.channels`` entry-point group (channels) and the
``cashier.plugins`` group (plugins that only react to the lifecycle); built-in ones register the same way. Hooks are synchronous and called with keyword arguments; an implementation may accept a
subset of the arguments. ``docs/plugin_hooks.rst`` documents each hook with its signature; a test
fails when a hook here lacks documentation or a ``test_hook_<name>`` test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from channels.contract.payouts import PayoutRail
    from channels.contract.protocol import Channel
    from channels.contract.statements import StatementSource
    from channels.contract.views import MerchantView, PaymentView, RefundView

hookspec = pluggy.HookspecMarker("cashier")
hookimpl = pluggy.HookimplMarker("cashier")


# --- Channels -------------------------------------------------------------------------------------


@hookspec
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]], gateway_url: str) -> list[Channel] | None:
    """Called once per gateway process at start-up (and by ``cashier channels``), after the
    configuration is loaded and before the server accepts calls.

    ``config`` maps a channel name to its table from the configuration file's ``[channels.<name>]``
    section (an empty mapping when the file has none). A plugin reads only its own tables.
    ``gateway_url`` is the public base URL of the gateway's HTTP face (``server.public_url``), for the
    notification and return URLs a channel hands its rail.

    Return a list of objects satisfying ``channels.contract.Channel``, or ``None`` (or an empty list)
    to register nothing, e.g. when its configuration is missing. Raising stops start-up with the
    plugin's name in the error, so raise only for configuration that is present and wrong.
    """


@hookspec
def cashier_startup(config: Mapping[str, Mapping[str, Any]]) -> None:
    """Called once per gateway process at start-up (also by ``cashier serve --workers`` in each
    worker), after the configuration is loaded and before the server accepts calls, for every plugin
    that implements it. ``config`` maps a plugin name to its ``[plugins.<name>]`` table.

    Check your own table here so that a mistake stops start-up instead of failing later, on the first
    payment: raise ``ValueError`` with a message naming the key; start-up stops with your plugin's name
    in the error. Return nothing.
    """


@hookspec
def cashier_register_payout_rails(config: Mapping[str, Mapping[str, Any]]) -> list[PayoutRail] | None:
    """Called once per gateway process at start-up, after the configuration is loaded and before the server
    accepts calls (and by one-shot commands that move money), for the rails that pay accounts out:
    onboarding's account-verification transfers and settlement's payouts.

    ``config`` is what ``cashier_register_channels`` gets: a channel name mapped to its
    ``[channels.<name>]`` table, so a payout rail may share its payment channels' table (the Alipay one
    reads ``[channels.alipay]``).

    Return a list of objects satisfying ``channels.contract.PayoutRail``, or ``None`` (or an empty list) to
    register nothing, e.g. when its configuration is missing. Raising stops start-up with the plugin's name
    in the error, so raise only for configuration that is present and wrong (payouts asked of an Alipay app
    in key mode, which cannot transfer, is one).
    """


@hookspec
def cashier_register_statement_sources(config: Mapping[str, Mapping[str, Any]]) -> list[StatementSource] | None:
    """Called by settlement's reconciliation (its job and ``cashier reconcile statement``), once per run before
    any statement is read, for the rails that keep their own record of what moved: each gives a day's trades
    and its account movements as ``channels.contract.StatementLine`` values.

    ``config`` is what ``cashier_register_channels`` gets: a channel name mapped to its ``[channels.<name>]``
    table, so a statement source may share its payment channels' table (the Alipay one reads
    ``[channels.alipay]``, in key or certificate mode).

    Return a list of objects satisfying ``channels.contract.StatementSource``, or ``None`` (or an empty list)
    to register nothing, e.g. when its configuration is missing. Raising stops the run with the plugin's name
    in the error, so raise only for configuration that is present and wrong.
    """


# --- Lifecycle ------------------------------------------------------------------------------------
#
# Called from the outbox by the gateway's lifecycle runner (a background loop of ``cashier serve``), after
# the change has committed and never on the buyer's or the trading app's path. Each implementation is
# called on its own: returning means done; raising means "call me again later" (back-off from
# ``[hooks] retry_base_seconds`` doubling to ``retry_cap_seconds``; parked for an operator after
# ``max_attempts``, ``cashier hooks list`` / ``cashier hooks rerun``), and never affects other plugins.
# Delivery is at least once: de-duplicate on ``event_id``, which is the same on every call for an event.
# ``payment``, ``merchant`` and ``refund`` are read when the hook is called, so they may have moved on
# since the event (a payment refunded meanwhile). ``config`` maps a plugin name to its
# ``[plugins.<name>]`` table; a plugin without one is not called at all (it must be enabled).
# Implementations may accept any subset of the arguments.


@hookspec
def cashier_payment_succeeded(payment: PaymentView, merchant: MerchantView, event_id: str,
                              config: Mapping[str, Mapping[str, Any]]) -> None:
    """Called once a payment has become SUCCEEDED (the channel confirmed the buyer paid), including a
    payment paid after it was closed here. ``payment.buyer_id`` is the rail's id of the buyer when the
    rail gave one. Return nothing; raise to be called again later."""


@hookspec
def cashier_payment_closed(payment: PaymentView, merchant: MerchantView, event_id: str,
                           config: Mapping[str, Mapping[str, Any]]) -> None:
    """Called once a payment has become CLOSED without being paid: closed by the trading app, or expired
    and closed by the reconciler. Return nothing; raise to be called again later."""


@hookspec
def cashier_refund_succeeded(refund: RefundView, payment: PaymentView, merchant: MerchantView, event_id: str,
                             config: Mapping[str, Mapping[str, Any]]) -> None:
    """Called once a refund has SUCCEEDED (the channel says the money went back); ``payment`` is the
    refunded payment (PARTIALLY_REFUNDED or REFUNDED). Return nothing; raise to be called again later."""
