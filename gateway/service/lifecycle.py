"""Calling plugins' lifecycle hooks (payment succeeded, payment closed, refund succeeded) from the outbox.

A housekeeping loop of `cashier serve` (every `[hooks] every_seconds`), never the buyer's or the app's
path, so a slow or failing plugin cannot delay a payment:

1. fans new outbox events out into one hook run per plugin implementing the event's hook (a plugin
   implementing none gets none), in a short transaction;
2. claims due runs with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL), so two processes never call the
   same plugin for the same event at once;
3. calls each run's plugin with the payment, merchant (and refund) as they stand now: a return is DONE, a
   raise is retried after base × 2^(n-1) (capped), and PARKED for an operator after `max_attempts`
   (`cashier hooks list`, `cashier hooks rerun`). Outcomes are recorded for the whole batch in one
   transaction after its calls.

At least once: a process that dies between a plugin's return and that commit calls it again after the
lease, so plugins de-duplicate on `event_id`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.domain.errors import FailedPrecondition, NotFound
from gateway.domain.hooks import HookRun, HookRunState
from gateway.domain.ids import utcnow
from gateway.jobs import run_until_done
from gateway.service.channel_views import merchant_view, payment_view, refund_view
from gateway.service.ports import UnitOfWork, UnitOfWorkFactory
from gateway.service.webhooks import RetryPolicy

log = logging.getLogger("cashier.hooks")
DEFAULT_POLICY = RetryPolicy(max_attempts=12)


class PluginHooks(Protocol):
    """The plugins, as the lifecycle runner sees them (gateway/plugins.py adapts pluggy to this)."""

    def subscribers(self) -> Mapping[str, Sequence[tuple[str, str]]]:
        """Event type → (plugin, hook) pairs of every plugin implementing that event's hook."""

    def call(self, plugin: str, hook: str, arguments: Mapping[str, Any]) -> None:
        """Call one plugin's implementation of `hook` with the arguments it accepts; raise if it raises."""


@dataclass
class HookReport:
    fanned_out: int = 0
    done: list[tuple[str, str]] = field(default_factory=list)  # (event id, plugin)
    retried: int = 0
    parked: int = 0


class LifecycleRunner:
    def __init__(self, uow: UnitOfWorkFactory, hooks: PluginHooks, config: Mapping[str, Mapping[str, Any]],
                 clock: Callable[[], datetime] = utcnow, *, policy: RetryPolicy = DEFAULT_POLICY,
                 batch: int = 100, lease: timedelta = timedelta(seconds=60)):
        self.uow = uow
        self.hooks = hooks
        self.config = config
        self.clock = clock
        self.policy = policy
        self.batch = batch
        self.lease = lease
        self._subscribers = hooks.subscribers()

    def run(self) -> HookReport:
        """Fan out one batch of new events, then call one batch of due runs: one write transaction to
        claim, one read for what the hooks are handed, the calls, one write to record the outcomes."""
        report = HookReport()
        now = self.clock()
        with self.uow(write=True) as uow:
            report.fanned_out = uow.hook_runs.fan_out(self._subscribers, now, self.batch)
            claimed = uow.hook_runs.claim_due(now, now + self.lease, self.batch)
            uow.commit()
        if not claimed:
            return report
        with self.uow() as uow:
            arguments = [self._arguments(uow, run) for run in claimed]
        errors = [self._call(run, args) for run, args in zip(claimed, arguments, strict=True)]
        now = self.clock()
        parked: list[tuple[HookRun, str]] = []
        with self.uow(write=True) as uow:
            for run, error in zip(claimed, errors, strict=True):
                if not error:
                    uow.hook_runs.mark_done(run, now)
                    report.done.append((run.event_id, run.plugin))
                    continue
                attempts = run.attempts + 1
                park = attempts >= self.policy.max_attempts
                uow.hook_runs.mark_failed(run, park=park, retry_at=now + self.policy.delay(attempts), error=error)
                if park:
                    parked.append((run, error))
                else:
                    report.retried += 1
            uow.commit()
        for run, error in parked:
            log.error("lifecycle hook keeps failing; parked for an operator (cashier hooks rerun)", extra={
                "plugin": run.plugin, "hook": run.hook, "event": run.event_id, "attempts": run.attempts + 1,
                "detail": error})
        report.parked = len(parked)
        return report

    def run_until_done(self, max_batches: int = 100) -> HookReport:
        return run_until_done(self.run, self._full, max_batches)

    def _full(self, report: HookReport) -> bool:
        """A full batch of either kind: more may be due."""
        return report.fanned_out >= self.batch or len(report.done) + report.retried + report.parked >= self.batch

    def _arguments(self, uow: UnitOfWork, run: HookRun) -> dict[str, Any] | LookupError:
        data = (run.event_payload or {}).get("data", {})
        refund_data = data.get("refund")
        payment_id = refund_data["payment_id"] if refund_data else data["payment"]["payment_id"]
        payment = uow.payments.get(run.merchant_id, payment_id)
        merchant = uow.merchants.get(run.merchant_id)
        refund = uow.refunds.get(run.merchant_id, refund_data["refund_id"]) if refund_data else None
        if payment is None or merchant is None or (refund_data and refund is None):
            return LookupError(f"event {run.event_id} names what is not stored")
        arguments: dict[str, Any] = {"payment": payment_view(payment), "merchant": merchant_view(merchant),
                                     "event_id": run.event_id, "config": self.config}
        if refund is not None:
            arguments["refund"] = refund_view(refund)
        return arguments

    def _call(self, run: HookRun, arguments: dict[str, Any] | LookupError) -> str:
        """Call the run's plugin; "" when it returned, else what went wrong (it is retried)."""
        try:
            if isinstance(arguments, LookupError):
                raise arguments
            self.hooks.call(run.plugin, run.hook, arguments)
            return ""
        except Exception as exc:  # a plugin's failure is contained: it is retried, others go on
            log.warning("lifecycle hook failed; will retry", exc_info=True, extra={
                "plugin": run.plugin, "hook": run.hook, "event": run.event_id, "attempts": run.attempts + 1})
            return f"{type(exc).__name__}: {exc}"

    # --- operators ----------------------------------------------------------------------------------

    def list_runs(self, state: HookRunState | None = None, limit: int = 100) -> list[HookRun]:
        with self.uow() as uow:
            return uow.hook_runs.list(state, limit)

    def rerun(self, event_id: str, plugin: str) -> None:
        """A PARKED run back to PENDING, due now, with its attempts counted afresh."""
        with self.uow(write=True) as uow:
            if not uow.hook_runs.rerun(event_id, plugin, self.clock()):
                known = uow.hook_runs.get(event_id, plugin)
                if known is None:
                    raise NotFound(f"no hook run for event {event_id} and plugin {plugin!r}",
                                   reason="HOOK_RUN_NOT_FOUND")
                raise FailedPrecondition(f"the hook run is {known.state.value}, not PARKED",
                                         reason="HOOK_RUN_NOT_PARKED", metadata={"event": event_id})
            uow.commit()
