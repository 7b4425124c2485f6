"""The alert evaluator: every ``alert_check_s`` it measures each enabled alert, applies the
rules of ``domain.alerts`` and delivers the notices they produce.

One check, in order:
1. read every sub-account's settings and every non-idle alert state;
2. measure what is enabled: the 15-minute hashrate from the sub-account's snapshot row
   (``accept_15m`` as of the last flush, in H/s) and the ACTIVE workers counted at the check's
   time with the server's ``active_s`` (``worker_counts``: the same rule and numbers as
   ``/v1/worker/stats``, and workers age out even if flushes stopped);
3. write the new states and the notices' log entries in one transaction, *before* delivering:
   a crash mid-delivery then loses at most that delivery, never fires twice;
4. deliver each notice to each of the sub-account's contacts in a few threads; whatever
   fails after its retries is logged as a ``delivery_failed`` entry.

A sub-account without contacts still gets its log entries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import sqlalchemy as sa

from poolstats.alerts.delivery import Delivery, Failure, Notice, unit_label
from poolstats.clock import Clock
from poolstats.config import Settings
from poolstats.domain.alerts import (
    IDLE,
    AlertKind,
    AlertState,
    Event,
    interval_s,
    step,
)
from poolstats.domain.hashrate import four_significant, hashrate_hs, unit_size
from poolstats.domain.status import WorkerStatus
from poolstats.metrics import Metrics
from poolstats.store.alerts import NO_ALERT, AlertConfig, AlertStore, LogEntry
from poolstats.store.ports.alerts import AlertsPort
from poolstats.store.ports.stats import StatsPort
from poolstats.store.ports.unit_of_work import UnitOfWork
from poolstats.threads import in_thread

log = logging.getLogger(__name__)

WINDOW_15M_S = 900
DELIVERY_THREADS = 8  # slow receivers wait side by side, not one after the other
KINDS = (AlertKind.HASHRATE, AlertKind.MINERS)


class AlertBackend(StatsPort, UnitOfWork, Protocol):
    """What the evaluator needs of a store: the stats it checks, and the transactions its
    alerts port (``AlertStore``) runs in."""


class AlertEvaluator:
    def __init__(
        self,
        store: AlertBackend,
        settings: Settings,
        clock: Clock,
        delivery: Delivery | None = None,
        metrics: Metrics | None = None,
        guard: Callable[[sa.Connection], None] | None = None,
    ) -> None:
        """``guard`` runs in the transaction that records a check's states and notices,
        before anything is delivered: the jobs process's lease check, so that a process
        that lost the lease sends nothing."""
        self._guard = guard
        self._store = store
        self._metrics = metrics
        self._alerts: AlertsPort = AlertStore(store)
        self._settings = settings
        self._clock = clock
        self._delivery = delivery or Delivery(settings)

    async def run(self) -> None:
        """Check every ``alert_check_s`` until cancelled, each check in a worker thread (it
        reads the store and talks to mail servers and webhooks). A failed check is logged
        and the next one runs as usual."""
        try:
            while True:
                try:
                    await in_thread(self.check)
                except Exception:
                    log.exception("alert check failed; the next one runs as usual")
                await asyncio.sleep(self._settings.alert_check_s)
        finally:
            self._delivery.close()

    def check(self, now: int | None = None) -> list[Notice]:
        """One pass (see the module docstring); the notices it produced."""
        at = int(self._clock.now()) if now is None else now
        configs = self._alerts.all_settings()
        states = self._alerts.states()
        keys = {(p, k) for p, c in configs.items() for k in KINDS if _enabled(c, k)}
        keys |= set(states)
        names = self._alerts.names(p for p, _ in keys)
        changed: dict[tuple[int, AlertKind], AlertState] = {}
        notices: list[Notice] = []
        for puid, kind in sorted(keys):
            config = configs.get(puid, NO_ALERT)
            old = states.get((puid, kind), IDLE)
            enabled = _enabled(config, kind)
            value, threshold = self._measure(puid, kind, config, at) if enabled else (0.0, 0.0)
            new, event = step(old, at, value, threshold, enabled, interval_s(config.interval))
            if new != old:
                changed[(puid, kind)] = new
            if event is not None:
                notices.append(
                    _notice(puid, names.get(puid, str(puid)), kind, event, value, config, at)
                )
        if changed or notices:
            self._alerts.record(changed, [_entry(n) for n in notices], at, self._guard)
        if self._metrics is not None:
            for n in notices:
                self._metrics.alert_notices.labels(n.event.value).inc()
        if notices:
            self._deliver(notices, at)
        return notices

    def _measure(
        self, puid: int, kind: AlertKind, config: AlertConfig, now: int
    ) -> tuple[float, float]:
        """(measured value, threshold), both in H/s for hashrate, in workers for miners."""
        if kind is AlertKind.HASHRATE:
            stats = self._store.subaccount_stats(puid)
            accept = float(stats["accept_15m"]) if stats else 0.0
            threshold = float(config.hashrate) * unit_size(config.unit)
            return hashrate_hs(accept, WINDOW_15M_S), threshold
        s = self._settings
        counts = self._store.worker_counts(puid, now, s.active_s, s.inactive_s)
        return float(counts[WorkerStatus.ACTIVE]), float(config.miners)

    def _deliver(self, notices: Sequence[Notice], now: int) -> None:
        contacts = self._alerts.contacts_of(n.puid for n in notices)
        jobs = [(n, c) for n in notices for c in contacts.get(n.puid, [])]
        if not jobs:
            return
        with ThreadPoolExecutor(min(DELIVERY_THREADS, len(jobs))) as pool:
            results = list(pool.map(lambda job: self._delivery.send(*job), jobs))
        failed = [
            (notice, failure)
            for (notice, _), failures in zip(jobs, results, strict=True)
            for failure in failures
        ]
        if self._metrics is not None:
            for _, failure in failed:
                self._metrics.alert_delivery_failures.labels(failure.channel).inc()
        entries = [_failure_entry(notice, failure, now) for notice, failure in failed]
        if entries:
            for e in entries:
                log.warning("alert delivery failed for puid %d: %s", e.puid, e.message)
            self._alerts.append_log(entries)


def _enabled(config: AlertConfig, kind: AlertKind) -> bool:
    return config.hashrate_enabled if kind is AlertKind.HASHRATE else config.miners_enabled


def _notice(
    puid: int,
    name: str,
    kind: AlertKind,
    event: Event,
    value: float,
    config: AlertConfig,
    at: int,
) -> Notice:
    if kind is AlertKind.HASHRATE:
        unit = config.unit
        shown = four_significant(value / unit_size(unit))
        threshold = config.hashrate
        label = unit_label(unit)
        what = f"15-minute hashrate {shown} {label}"
        limit = f"{threshold} {label}"
    else:
        unit, shown, threshold = "", str(int(value)), str(config.miners)
        what, limit = f"{shown} ACTIVE workers", threshold
    message = {
        Event.FIRED: f"{name}: {what}, below the alert threshold of {limit}",
        Event.REPEATED: f"{name}: still {what}, below the alert threshold of {limit}",
        Event.RECOVERED: f"{name}: {what}, back at or above the alert threshold of {limit}",
    }[event]
    return Notice(puid, name, kind, event, shown, threshold, unit, config.interval, at, message)


def _entry(n: Notice) -> LogEntry:
    return LogEntry(
        n.puid, n.at, n.kind, n.event.value, n.message, n.value, n.threshold, n.unit, n.interval
    )


def _failure_entry(n: Notice, f: Failure, now: int) -> LogEntry:
    who = f"contact {f.contact_id}" + (f" ({f.note})" if f.note else "")
    message = (
        f"{n.kind.value} {n.event.value} notice to {who} by {f.channel} {f.target} failed"
        f" after {f.attempts} attempt{'s' if f.attempts != 1 else ''}: {f.error}"
    )
    return LogEntry(
        n.puid,
        now,
        AlertKind.DELIVERY,
        Event.DELIVERY_FAILED.value,
        message,
        n.value,
        n.threshold,
        n.unit,
        n.interval,
    )
