"""The kit's checks, one test per rule (collected by channels/testing/plugin.py when --cashier-channel is given).

Each failure says what is wrong, for which case, and what the gateway would do with it, so that the author
knows what to fix without reading the gateway's code. A check that does not apply (a capability the channel
does not declare) or cannot run (no rail to produce a genuine notification) is skipped with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from channels.contract import (
    ACTION_KINDS,
    CHECKOUT_METHODS,
    AppPay,
    Channel,
    ChannelNotification,
    ChannelResult,
    Decline,
    HostedCheckout,
    HostedCheckoutProvider,
    NotificationReceiver,
    NotificationRejected,
    Offer,
    Outcome,
    PaymentView,
    Platform,
    QrCode,
    Redirect,
    Refunder,
    RefundState,
    RefundView,
    Scenario,
    StatusQuerier,
)
from channels.testing.kit import NAME_PATTERN, Answer, Kit, describe, payment_for
from channels.testing.plugin import kit_of
from channels.testing.rail import NotificationSample, Rail

SHOWN = 12  # problems listed per failure; the count says how many more


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "channel_name" in metafunc.fixturenames:
        kit = kit_of(metafunc.config)
        metafunc.parametrize("channel_name", [c.name for c in kit.registration.channels] or [kit.name])


@pytest.fixture(scope="session")
def kit(request: pytest.FixtureRequest) -> Kit:
    return kit_of(request.config)


def fail(summary: str, problems: list[str], fix: str = "") -> None:
    if not problems:
        return
    lines = [summary, *(f"  - {p}" for p in problems[:SHOWN])]
    if len(problems) > SHOWN:
        lines.append(f"  ... and {len(problems) - SHOWN} more")
    if fix:
        lines.append(f"Fix: {fix}")
    pytest.fail("\n".join(lines), pytrace=False)


def fail_by_case(summary: str, problems: list[tuple[str, str]], fix: str = "") -> None:
    """Like fail, for (case, problem) pairs of the routing matrix: one line per distinct problem, with how
    many cases have it and the first of them, so that 2,400 cases of one mistake read as one."""
    cases: dict[str, list[str]] = {}
    for case, problem in problems:
        cases.setdefault(problem, []).append(case)
    fail(summary, [f"{problem} (in {len(found)} case{'s' if len(found) > 1 else ''}, e.g. {found[0]})"
                   for problem, found in cases.items()], fix)


def channel_under_test(kit: Kit, name: str) -> Channel:
    channel = kit.channel(name)
    if channel is None:
        # The registration tests fail and say why; repeating it for every rule would bury that one message.
        pytest.skip(f"not run: channel {name!r} did not register (see test_entry_point_loads and "
                    "test_hook_returns_channels, which fail)")
    return channel


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


# -- Registration ------------------------------------------------------------------------------------------


def test_entry_point_loads(kit: Kit) -> None:
    if kit.load_error:
        pytest.fail(kit.load_error, pytrace=False)
    error = kit.registration.error
    if "failed to load" in error or "unknown hook" in error:
        pytest.fail(f"the gateway could not load the plugin: {error}\nFix: the entry point's module must import "
                    "with only your package's dependencies, and implement only the hooks of "
                    "channels.contract.hookspecs (spelled exactly)", pytrace=False)


def test_hook_returns_channels(kit: Kit) -> None:
    error = kit.registration.error
    if kit.load_error or "failed to load" in error:
        pytest.skip("not run: the entry point did not load (see test_entry_point_loads, which fails)")
    if error:
        pytest.fail(f"start-up failed: {error}\nFix: cashier_register_channels must return a list of objects "
                    "satisfying channels.contract.Channel, and raise only for configuration that is present and "
                    "wrong (with a message naming the key)", pytrace=False)
    if not kit.registration.channels:
        wanted = f"a channel named {kit.selected!r}" if kit.selected else "any channel"
        pytest.fail(f"cashier_register_channels of entry point {kit.entry_point!r} returned no {wanted} with this "
                    "configuration.\nFix: if it needs a [channels.<name>] table, pass --cashier-config FILE with "
                    "one; if it registers nothing on purpose, say why in a log message", pytrace=False)


def test_channel_names_are_unique_and_well_formed(kit: Kit) -> None:
    error = kit.registration.error
    if " twice" in error:
        pytest.fail(f"{error}\nFix: every channel's name must be unique: it is stored with each payment",
                    pytrace=False)
    fail("channel names the gateway cannot use:",
         [f"{c.name!r} does not match {NAME_PATTERN} (it goes into the configuration's [channels.<name>] and "
          "the notification URL /notify/<name>/<merchant>)"
          for c in kit.registration.channels if not isinstance(c.name, str) or not re.fullmatch(NAME_PATTERN, c.name)])


def test_channel_declares_what_it_serves(kit: Kit, channel_name: str) -> None:
    channel = channel_under_test(kit, channel_name)
    problems = []
    if not isinstance(channel.display_name, str) or not channel.display_name.strip():
        problems.append(f"display_name is {channel.display_name!r}: give a name operators read in ListChannels")
    problems += _members("actions", channel.actions, ACTION_KINDS)
    problems += _members("platforms", channel.platforms, tuple(Platform))
    problems += _members("scenarios", channel.scenarios, tuple(Scenario))
    fail(f"channel {channel_name!r} declares what it serves wrongly (ListChannels shows these to apps):", problems)


def _members(what: str, values: Any, allowed: Iterable[object]) -> list[str]:
    allowed = tuple(allowed)
    if not isinstance(values, tuple) or not values:
        return [f"{what} is {values!r}: a non-empty tuple of {allowed!r}"]
    return [f"{what} has {value!r}, which is not one of {allowed!r}" for value in values if value not in allowed]


def test_configuration_errors_name_the_key(kit: Kit) -> None:
    if not kit.registration.channels:
        pytest.skip("not run: nothing registered (see test_hook_returns_channels, which fails)")
    fail("a wrong configuration stops start-up without saying which key is wrong:", kit.configuration_problems(),
         "check your [channels.<name>] table in cashier_register_channels (or the channel's constructor) and raise "
         "ValueError naming the key, e.g. \"[channels.acme] min_amount must be an integer of fen, not 'ten'\"")


# -- Routing -----------------------------------------------------------------------------------------------


def test_offer_answers_offer_or_decline(kit: Kit, channel_name: str) -> None:
    channel = channel_under_test(kit, channel_name)
    problems: list[tuple[str, str]] = []
    for answer in kit.routing(channel):
        if answer.error is None:
            problem = _answer_problem(answer.value)
            if problem:
                problems.append((describe(answer.request), problem))
    fail_by_case(f"offer() of {channel_name!r} gave answers the router cannot explain:", problems,
         "answer Offer(priority: int, reason) or Decline(reason), with a reason an operator can read in PreviewRoute")


def _answer_problem(value: object) -> str:
    if value is None:
        return "returned None; return Decline('why not') so that the route trace says why"
    if isinstance(value, Offer):
        if not isinstance(value.priority, int) or isinstance(value.priority, bool):
            return f"Offer priority {value.priority!r} is not an integer"
        if not isinstance(value.reason, str) or not value.reason.strip():
            return "Offer without a reason"
        return ""
    if isinstance(value, Decline):
        return "" if isinstance(value.reason, str) and value.reason.strip() else "Decline without a reason"
    return f"returned {type(value).__name__} {value!r}, neither Offer nor Decline"


def test_offer_never_raises(kit: Kit, channel_name: str) -> None:
    channel = channel_under_test(kit, channel_name)
    fail_by_case(f"offer() of {channel_name!r} raised (the router then skips the channel and logs an error on "
                 "every payment):", [(describe(a.request), f"raised {error_text(a.error)}")
                                     for a in kit.routing(channel) if a.error],
                 "return Decline(reason) for anything you cannot serve, including versions or fields you cannot "
                 "parse")


def test_offer_is_deterministic(kit: Kit, channel_name: str) -> None:
    from channels.testing.kit import ask

    channel = channel_under_test(kit, channel_name)
    problems = []
    for first in kit.routing(channel):
        again = ask(channel, first.request)
        if _outcome(first) != _outcome(again):
            problems.append(f"{describe(first.request)}: first {_outcome(first)}, then {_outcome(again)}")
    fail(f"offer() of {channel_name!r} answers the same request differently (PreviewRoute would not show what "
         "CreatePayment does):", problems, "offer must depend only on the request and the configuration")


def _outcome(answer: Answer) -> str:
    return f"raised {type(answer.error).__name__}" if answer.error else repr(answer.value)


def test_offer_stays_within_declared_platforms_and_scenarios(kit: Kit, channel_name: str) -> None:
    channel = channel_under_test(kit, channel_name)
    problems = [(describe(a.request), f"offered, but {_undeclared(channel, a)} is not in the channel's declared "
                 "platforms/scenarios") for a in kit.routing(channel)
                if isinstance(a.value, Offer) and _undeclared(channel, a)]
    fail_by_case(f"{channel_name!r} offers for clients it does not declare (ListChannels tells apps otherwise):", problems,
         "declare every platform and scenario you offer for in `platforms` and `scenarios`")


def _undeclared(channel: Channel, answer: Answer) -> str:
    request = answer.request
    if request.client.platform not in tuple(channel.platforms):
        return request.client.platform.value
    if request.scenario not in tuple(channel.scenarios):
        return request.scenario.value
    return ""


# -- prepare -----------------------------------------------------------------------------------------------


def offered_payments(kit: Kit, channel: Channel) -> list[PaymentView]:
    """One payment per distinct client, scenario, merchant and scan-to-pay the channel offered for, at the
    smallest and the largest amount it offered: prepare() may call the rail, so not all of the matrix."""
    groups: dict[tuple[object, ...], list[Answer]] = {}
    for answer in kit.routing(channel):
        if isinstance(answer.value, Offer):
            r = answer.request
            groups.setdefault((r.client, r.scenario, r.merchant.id, r.scan_to_pay), []).append(answer)
    payments = []
    for answers in groups.values():
        ends = {min(answers, key=lambda a: a.request.amount).request, max(answers, key=lambda a: a.request.amount).request}
        payments += [payment_for(request, channel.name) for request in ends]
    return payments


def action_problem(channel: Channel, action: object) -> str:
    if not isinstance(action, AppPay | Redirect | QrCode | HostedCheckout):
        return f"returned {type(action).__name__}, not one of AppPay, Redirect, QrCode, HostedCheckout"
    if action.kind not in tuple(channel.actions):
        return f"returned a {action.kind} but the channel declares actions={tuple(channel.actions)!r}"
    if isinstance(action, AppPay):
        return "" if isinstance(action.order_string, str) and action.order_string else "AppPay with an empty order_string"
    if isinstance(action, QrCode):
        return "" if isinstance(action.code, str) and action.code else "QrCode with an empty code"
    if not _absolute_http(action.url):
        return f"{type(action).__name__} url {action.url!r} is not an absolute http(s) URL"
    if isinstance(action, HostedCheckout):
        if action.expires_at is not None and (not isinstance(action.expires_at, datetime)
                                              or action.expires_at.tzinfo is None):
            return f"HostedCheckout expires_at {action.expires_at!r} is not a timezone-aware datetime"
        if not isinstance(channel, HostedCheckoutProvider):
            return "returned a HostedCheckout but has no checkout_action(): the page could not take the buyer on"
    return ""


def _absolute_http(url: object) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def test_prepare_returns_a_buyer_action(kit: Kit, channel_name: str) -> None:
    channel = channel_under_test(kit, channel_name)
    problems = []
    payments = offered_payments(kit, channel)
    if not payments:
        pytest.skip(f"not run: {channel_name!r} offered for none of the kit's {len(kit.routing(channel))} cases")
    for payment in payments:
        case = f"{payment.client.platform.value} {payment.client.app_version!r}, {payment.scenario.value}, " \
               f"{payment.amount} fen{', scan to pay' if payment.scan_to_pay else ''}"
        try:
            action = channel.prepare(payment)
        except Exception as exc:  # noqa: BLE001 - reported per case
            problems.append(f"{case}: raised {error_text(exc)} for a payment it offered to serve")
            continue
        problem = action_problem(channel, action)
        if problem:
            problems.append(f"{case}: {problem}")
    fail(f"prepare() of {channel_name!r} does not hand the buyer a usable action:", problems,
         "prepare must succeed for every payment offer() accepted (or offer must decline it), and return one of "
         "the actions in channels.contract.actions with every field filled")


def test_hosted_checkout_actions(kit: Kit, channel_name: str) -> None:
    channel = channel_under_test(kit, channel_name)
    if not isinstance(channel, HostedCheckoutProvider):
        pytest.skip(f"not applicable: {channel_name!r} declares no checkout_action (HostedCheckoutProvider)")
    payments = offered_payments(kit, channel)[:4]
    problems = []
    for payment, method in ((p, m) for p in payments for m in CHECKOUT_METHODS):
        try:
            action = channel.checkout_action(payment, method, "https://gateway.example/pay/result")
        except Exception as exc:  # noqa: BLE001 - reported per case
            problems.append(f"method {method!r}, {payment.amount} fen: raised {error_text(exc)}")
            continue
        if isinstance(action, QrCode):
            if not action.code:
                problems.append(f"method {method!r}: QrCode with an empty code")
        elif not isinstance(action, Redirect) or not _absolute_http(action.url):
            problems.append(f"method {method!r}: {action!r} is not a Redirect to an absolute URL nor a QrCode")
    fail(f"checkout_action() of {channel_name!r} fails the hosted checkout page:", problems)


# -- Notifications -----------------------------------------------------------------------------------------

FORGED = {
    "an empty body": (b"", "application/x-www-form-urlencoded"),
    "bytes that are no form": (b"\xff\xfe\x00garbage\x00", "application/octet-stream"),
    "a form claiming success with no signature": (
        b"out_trade_no=pay_01HZZZZZZZZZZZZZZZZZZZZZZZ&trade_status=TRADE_SUCCESS&total_amount=1.00",
        "application/x-www-form-urlencoded; charset=utf-8"),
    "a form claiming success with a made-up signature": (
        b"out_trade_no=pay_01HZZZZZZZZZZZZZZZZZZZZZZZ&trade_status=TRADE_SUCCESS&total_amount=1.00"
        b"&sign_type=RSA2&sign=AAAAbm90IGEgc2lnbmF0dXJl", "application/x-www-form-urlencoded; charset=utf-8"),
    "JSON claiming success": (b'{"status": "SUCCESS", "payment_id": "pay_01HZZZZZZZZZZZZZZZZZZZZZZZ"}',
                              "application/json"),
    "a megabyte of noise": (b"a=" + b"x" * 1_000_000, "application/x-www-form-urlencoded"),
}


def receiver(kit: Kit, channel_name: str) -> Any:
    channel = channel_under_test(kit, channel_name)
    if not isinstance(channel, NotificationReceiver):
        pytest.skip(f"not applicable: {channel_name!r} declares no notifications (parse_notification, "
                    "notification_ack)")
    return channel


def test_notification_ack_is_text(kit: Kit, channel_name: str) -> None:
    channel = receiver(kit, channel_name)
    ack = channel.notification_ack
    if not isinstance(ack, str) or not ack:
        pytest.fail(f"notification_ack is {ack!r}: the rail needs a non-empty body (e.g. 'success') to stop "
                    "sending the notification", pytrace=False)


def test_forged_notifications_are_refused(kit: Kit, channel_name: str) -> None:
    channel = receiver(kit, channel_name)
    fail(f"parse_notification() of {channel_name!r} does not refuse forged notifications:",
         [p for label, (body, kind) in FORGED.items() if (p := _refusal_problem(channel, label, body, kind))],
         "raise channels.contract.NotificationRejected for anything not verified as genuine")


def _refusal_problem(channel: Any, label: str, body: bytes, content_type: str) -> str:
    try:
        result = channel.parse_notification(body, content_type)
    except NotificationRejected:
        return ""
    except Exception as exc:  # noqa: BLE001 - reported
        return f"{label}: raised {error_text(exc)} instead of NotificationRejected"
    return f"{label}: ACCEPTED as {result!r}; the gateway would apply it"


def rail_for(kit: Kit, request: pytest.FixtureRequest, channel: Any) -> Rail:
    try:
        rail = request.getfixturevalue("cashier_rail")
    except pytest.FixtureLookupError:
        rail = None
    if rail is None and kit.local_alipay is not None and hasattr(channel, "credentials"):
        from channels.alipay.toolkit import AlipayNotifications
        from channels.testing.alipay import SandboxRail

        if isinstance(channel, AlipayNotifications):
            rail = SandboxRail(kit.local_alipay, channel.seller_id)
    if rail is None:
        pytest.skip("not run: needs a genuine notification from your rail; define a `cashier_rail` fixture "
                    "(see channels.testing.rail.Rail)")
    if not isinstance(rail, Rail):
        pytest.fail(f"the cashier_rail fixture gave {rail!r}, which lacks genuine_notification() and "
                    "tampered_notifications() (channels.testing.rail.Rail)", pytrace=False)
    return rail


def _a_payment(kit: Kit, channel: Channel) -> PaymentView:
    payments = offered_payments(kit, channel)
    if not payments:
        pytest.skip(f"not run: {channel.name!r} offered for none of the kit's cases")
    return payments[0]


def test_genuine_notification_parses(kit: Kit, channel_name: str, request: pytest.FixtureRequest) -> None:
    channel = receiver(kit, channel_name)
    rail = rail_for(kit, request, channel)
    payment = _a_payment(kit, channel)
    sample: NotificationSample = rail.genuine_notification(payment)
    try:
        note = channel.parse_notification(sample.body, sample.content_type)
    except Exception as exc:  # noqa: BLE001 - reported
        pytest.fail(f"a genuine notification for {payment.id} was refused: {error_text(exc)}\nFix: the buyer "
                    "paid, and the gateway would never hear of it", pytrace=False)
    problems = []
    if not isinstance(note, ChannelNotification):
        problems.append(f"returned {note!r}, not a ChannelNotification")
    else:
        if note.payment_id != payment.id:
            problems.append(f"payment_id {note.payment_id!r}, expected the gateway's id {payment.id!r}")
        if note.amount != payment.amount:
            problems.append(f"amount {note.amount!r} fen, expected {payment.amount} (integer minor units)")
        if note.outcome is not Outcome.SUCCEEDED:
            problems.append(f"outcome {note.outcome!r} for a paid notification, expected Outcome.SUCCEEDED")
    fail(f"parse_notification() of {channel_name!r} misreads a genuine notification:", problems)


def test_tampered_notifications_are_refused(kit: Kit, channel_name: str, request: pytest.FixtureRequest) -> None:
    channel = receiver(kit, channel_name)
    rail = rail_for(kit, request, channel)
    payment = _a_payment(kit, channel)
    samples = rail.tampered_notifications(payment)
    fail(f"parse_notification() of {channel_name!r} accepts tampered notifications:",
         [p for label, s in samples.items() if (p := _refusal_problem(channel, label, s.body, s.content_type))],
         "verify the rail's signature over every field, and the account it names, before returning anything")


# -- Outcomes ----------------------------------------------------------------------------------------------


def test_unpaid_payment_is_never_reported_paid(kit: Kit, channel_name: str) -> None:
    """A payment the rail has never seen: every answer is a ChannelResult of the closed Outcome enum, and
    none says SUCCEEDED for money that never moved (closing it may succeed: there is nothing to pay)."""
    channel: Any = channel_under_test(kit, channel_name)
    payments = offered_payments(kit, channel)
    if not payments:
        pytest.skip(f"not run: {channel_name!r} offered for none of the kit's cases")
    _never_paid(kit, channel, payments[0], "")


def test_rail_down_is_never_success(kit: Kit, channel_name: str) -> None:
    """The rail unreachable: no answer at all must read as UNKNOWN (or a raise), never as SUCCEEDED."""
    channel = channel_under_test(kit, channel_name)
    if not isinstance(channel, StatusQuerier | Refunder):
        pytest.skip(f"not applicable: {channel_name!r} declares neither query/close_payment nor refunds")
    payments = offered_payments(kit, channel)
    if not payments:
        pytest.skip(f"not run: {channel_name!r} offered for none of the kit's cases")
    down = kit.register_with_rail_down()
    if down is None:
        pytest.skip("not run: the kit can take down only an Alipay rail ([channels.alipay] gateway_url)")
    try:
        cut_off = next((c for c in down.channels if c.name == channel_name), None)
        if cut_off is None:
            pytest.fail(f"{channel_name!r} did not register with its rail unreachable: {down.error or 'no channel'}"
                        "\nFix: start-up must not call the rail", pytrace=False)
        _never_paid(kit, cut_off, payments[0], " with the rail unreachable")
    finally:
        down.close()


def _never_paid(kit: Kit, channel: Any, payment: PaymentView, when: str) -> None:
    channel_name = channel.name
    calls: list[tuple[str, Any]] = []
    refund = RefundView(f"ref_{payment.id[4:]}", payment.id, payment.amount, payment.currency, RefundState.PENDING,
                        "kit refund")
    if isinstance(channel, StatusQuerier):
        calls += [("query", lambda: channel.query(payment)), ("close_payment", lambda: channel.close_payment(payment))]
    if isinstance(channel, Refunder):
        calls += [("refund", lambda: channel.refund(payment, refund)),
                  ("refund_status", lambda: channel.refund_status(payment, refund))]
    if not calls:
        pytest.skip(f"not applicable: {channel_name!r} declares neither query/close_payment nor refunds")
    problems = []
    for what, call in calls:
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - raising counts as UNKNOWN for the gateway; noted, not failed
            kit.notes.append(f"{channel_name}.{what}() on an unpaid payment{when} raised {error_text(exc)} "
                             "(the gateway treats it as UNKNOWN)")
            continue
        if not isinstance(result, ChannelResult) or not isinstance(result.outcome, Outcome):
            problems.append(f"{what}() returned {result!r}, not a ChannelResult with an Outcome")
        elif result.outcome is Outcome.SUCCEEDED and what != "close_payment":
            problems.append(f"{what}() answered SUCCEEDED ({result.detail!r}) for a payment that was never paid")
        elif result.outcome is Outcome.SUCCEEDED and when:
            problems.append(f"{what}() answered SUCCEEDED ({result.detail!r}) without reaching the rail")
    fail(f"{channel_name!r} reports money that never moved{when}, or answers outside the Outcome enum:", problems,
         "answer SUCCEEDED only when the rail confirms it; UNKNOWN when you cannot tell (the gateway asks again)")


# -- End to end --------------------------------------------------------------------------------------------


def _step(kit: Kit, channel_name: str, step: str) -> Any:
    channel = channel_under_test(kit, channel_name)
    bought = kit.purchase(channel)
    if bought is None:
        pytest.skip(f"not run: {channel_name!r} offered for none of the kit's cases")
    return getattr(bought, step)


def _report(result: Any, fix: str) -> None:
    if result.skipped:
        pytest.skip(result.skipped)
    if result.failed:
        pytest.fail(f"{result.failed}\nFix: {fix}", pytrace=False)


def test_end_to_end_create_payment(kit: Kit, channel_name: str) -> None:
    """A real gateway on a free port (SQLite) loading only this plugin: CreatePayment over gRPC, pinned to the
    channel, answers a buyer action."""
    _report(_step(kit, channel_name, "created"),
            "the gateway must start with your plugin and configuration alone, and prepare() must succeed for a "
            "payment offer() accepted (run `cashier serve` with CASHIER_LOAD_CHANNELS=<your entry point>)")


def test_end_to_end_paid_notification(kit: Kit, channel_name: str) -> None:
    """The buyer pays at the rail (the kit's Alipay sandbox); the rail's notification reaches the gateway's
    /notify/<channel>/<merchant> and the payment becomes SUCCEEDED."""
    created = _step(kit, channel_name, "created")
    if not created.ok:
        pytest.skip("not run: no payment was created (see test_end_to_end_create_payment)")
    _report(_step(kit, channel_name, "paid"),
            "hand the rail the notify URL the gateway gives the channel (channels.alipay.toolkit.notify_url), "
            "and accept in parse_notification() what the rail genuinely sends")


def test_end_to_end_refund(kit: Kit, channel_name: str) -> None:
    """A full refund of the paid payment over gRPC answers one of the closed refund states."""
    created = _step(kit, channel_name, "created")
    if not created.ok:
        pytest.skip("not run: no payment was created (see test_end_to_end_create_payment)")
    _report(_step(kit, channel_name, "refunded"),
            "refund() must answer a ChannelResult of the closed Outcome enum (UNKNOWN when the rail cannot "
            "say), never raise for an answer it does not understand")
