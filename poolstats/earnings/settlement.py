"""Settling yesterday's earnings, once a day, at the time the rule says.

One node runs it on its flush timer (``Service.run_timers``); a cluster runs it in the one
active ``poolstats jobs`` process. Both call the same ``Settler``, so the rule of when a day
is settled exists once (what a day earns is ``store.ledger.settle`` with ``domain.earnings``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from poolstats.clock import Clock
from poolstats.config import Settings
from poolstats.metrics import Metrics
from poolstats.store import ledger
from poolstats.store.ports.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
SETTLE_RETRY_S = 3600.0  # after a failed settlement (e.g. no network state recorded yet)

Guard = Callable[[sa.Connection], None]


def day_due(now: float, settle_after_s: float) -> int | None:
    """The start of the day to settle at ``now``: yesterday once ``settle_after_s`` of today
    have passed (so the last flush of yesterday's shares is in the store), else None."""
    today = ledger.day_start(now)
    if now - today < settle_after_s:
        return None
    return today - 86400


class Settler:
    """Settles yesterday once a day. ``guard`` runs inside the settlement's transaction (the
    jobs lease check), so a process that lost its lease writes nothing."""

    def __init__(
        self,
        store: UnitOfWork,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
        guard: Guard | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.guard = guard
        self.settled_day = -1  # newest day this process knows is settled
        self.retry_at = 0.0
        metrics.settled_through.set(ledger.settled_through(store) or 0)

    def settle_due(self) -> ledger.Settlement | None:
        """Settle yesterday when due and not known settled; None when nothing was tried or
        the try failed (then retried after ``SETTLE_RETRY_S``). ``LeaseLost`` from the guard
        propagates: the caller is no longer the one to settle."""
        now = self.clock.now()
        day = day_due(now, self.settings.settle_after_s)
        if day is None or self.settled_day >= day or now < self.retry_at:
            return None
        try:
            done = ledger.settle(
                self.store, day, int(now), self.settings.fee_rate(), guard=self.guard
            )
        except ValueError:
            self.retry_at = now + SETTLE_RETRY_S
            self.metrics.settlement_failures.inc()
            log.exception("settlement of %s failed; retrying in an hour", ledger.day_text(day))
            return None
        self.settled_day = day
        self.metrics.settled_through.set(done.settled_through or 0)
        self.metrics.earnings_settled.inc(done.total_sat)
        if not done.already:
            log.info(
                "settled %s: %d earnings rows, %d sat",
                ", ".join(ledger.day_text(d) for d in done.days),
                done.rows,
                done.total_sat,
            )
        return done
