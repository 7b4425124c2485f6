"""``poolstats jobs``: the work exactly one process of a cluster does — settling yesterday's
earnings, evaluating alerts, polling bitcoind for the network state, pruning old history.

Any number may run; the holder of lease ``jobs`` is the active one and the others wait to take
it over (within ``lease_ttl_s`` of the holder stopping). Holding the lease is not enough to
write: a settlement and an alert check's states and notices are each written in one
transaction that first checks the lease at the epoch it was taken with (``store.leases.check``,
which also locks the lease row against a take-over until the write commits). So a process
that lost its lease without knowing it (paused, cut off) writes nothing, and a day is settled
and an alert notified once, however many jobs processes run or die mid-way: a settlement cut
short by a crash is rolled back whole and done by the next holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import sqlalchemy as sa

from poolstats import upkeep
from poolstats.alerts.delivery import Delivery
from poolstats.alerts.evaluator import AlertEvaluator
from poolstats.clock import Clock, SystemClock
from poolstats.cluster.leaseholder import Leaseholder
from poolstats.config import Settings
from poolstats.earnings.settlement import Settler
from poolstats.metrics import Metrics
from poolstats.store import leases
from poolstats.store.sql import SqlStore
from poolstats.threads import in_thread

log = logging.getLogger(__name__)
JOBS_LEASE = "jobs"
UPKEEP_EVERY_S = 1.0  # settle_due is a clock comparison until the day is due
HELD_POLL_S = 0.1  # how soon the jobs stop after the lease is lost


class Jobs:
    def __init__(
        self,
        settings: Settings,
        store: SqlStore,
        clock: Clock | None = None,
        lease: Leaseholder | None = None,
        metrics: Metrics | None = None,
        delivery: Delivery | None = None,
    ) -> None:
        settings.fee_rate()  # a mistyped pool_fee_rate stops the start, not a settlement
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.metrics = metrics or Metrics()
        self.lease = lease or Leaseholder(store, JOBS_LEASE, settings.lease_ttl_s)
        self.settler = Settler(store, settings, self.clock, self.metrics, self.fence)
        self._delivery = delivery
        self.active_since: list[float] = []  # unix seconds of each take-over, for tests and logs

    def fence(self, conn: sa.Connection) -> None:
        """A guarded write's check: still the lease's holder, at the epoch it was taken with.
        The store's row decides, not our clock: a settlement that outlasted a renewal is still
        ours to commit if nobody took the lease meanwhile (the row lock keeps it so)."""
        if not self.lease.epoch:
            raise leases.LeaseLost(f"lease {self.lease.name!r}: not held")
        leases.check(conn, self.lease.name, self.lease.holder, self.lease.epoch)

    async def run(self) -> None:
        """Wait for the lease; run the jobs while it is held; again, until cancelled."""
        leasing = asyncio.create_task(self.lease.run())
        try:
            while True:
                while not self.lease.held:
                    await asyncio.sleep(HELD_POLL_S)
                await self._active()
        finally:
            leasing.cancel()
            await asyncio.gather(leasing, return_exceptions=True)

    def _jobs(self) -> list[Coroutine[Any, Any, None]]:
        beside = pool_jobs(
            self.settings, self.store, self.clock, self.metrics,
            guard=self.fence, delivery=self._delivery or Delivery(self.settings),
        )  # fmt: skip
        return [self._upkeep(), *beside]

    async def _active(self) -> None:
        self.active_since.append(self.clock.now())
        log.info("jobs: active (lease %s, epoch %d)", self.lease.name, self.lease.epoch)
        tasks = [asyncio.create_task(job) for job in self._jobs()]
        try:
            while self.lease.held and not any(t.done() for t in tasks):
                await asyncio.sleep(HELD_POLL_S)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            held = self.lease.held
            log.info("jobs: %s", "stopped" if held else "standing by (the lease is no longer ours)")
        for task in tasks:  # a job that ended by itself is a bug: say which and why
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("jobs: a job stopped", exc_info=task.exception())

    async def _upkeep(self) -> None:
        """Settle yesterday when due, prune hourly."""
        next_prune = 0.0
        while True:
            try:
                await in_thread(self.settler.settle_due)
            except leases.LeaseLost as exc:
                log.warning("jobs: settlement not written: %s", exc)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("jobs: settlement failed (%s); tried again", type(exc).__name__)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + upkeep.PRUNE_EVERY_S
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    await in_thread(upkeep.prune, self.store, self.settings, self.clock.now())
            await asyncio.sleep(UPKEEP_EVERY_S)


def pool_jobs(
    settings: Settings,
    store: SqlStore,
    clock: Clock,
    metrics: Metrics,
    alerts: bool = True,
    network: bool = True,
    guard: Callable[[sa.Connection], None] | None = None,
    delivery: Delivery | None = None,
) -> list[Coroutine[Any, Any, None]]:
    """The pool's own periodic work beside a process's main task: the alert evaluator and,
    when ``bitcoind_url`` is set, the network poller. One node runs them unguarded
    (``poolstats.node``); a cluster in the jobs process, under its lease (``guard``)."""
    jobs = []
    if alerts:
        evaluator = AlertEvaluator(
            store, settings, clock, delivery=delivery, metrics=metrics, guard=guard
        )
        jobs.append(evaluator.run())
    if network and settings.bitcoind_url:
        from poolstats.network.poller import run_network_poller

        jobs.append(run_network_poller(store, clock, settings))
    return jobs
