"""``poolstats api``: the HTTP APIs on the store alone, no engine, no journal, no state.

Any number of these run side by side on one store (PostgreSQL) behind a load balancer: each
answer is read from the store, so they all give the same figures, and losing one loses
nothing. The figures are as of the aggregators' last flushes; ``/healthz`` says per partition
how old that is and who holds the partition's lease, and ``/metrics`` exposes those ages and
the hashrate gauges, read from the stored snapshot rows instead of a live engine.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa

from poolstats.clock import Clock, SystemClock
from poolstats.cluster.aggregator import lease_name
from poolstats.cluster.jobs import JOBS_LEASE
from poolstats.cluster.leaseholder import process_id
from poolstats.config import Settings
from poolstats.domain import partition_health
from poolstats.domain.hashrate import WindowDiffs
from poolstats.engine.windows import WINDOWS_S
from poolstats.metrics import Metrics
from poolstats.service import Registry
from poolstats.store import cluster_view
from poolstats.store.sql import SqlStore

log = logging.getLogger(__name__)
LAST_FLUSH_CACHE_S = 1.0  # the dashboard asks on every page: one store read a second at most


class ReadNode:
    """What ``create_app`` needs of a node, for a process that only reads the store."""

    takes_shares = False

    def __init__(self, settings: Settings, store: SqlStore, clock: Clock | None = None) -> None:
        settings.stratum_regions()  # a mistyped pool_stratum_urls stops the start
        settings.tx_link()  # and so does a dashboard link that cannot work
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        self.registry = Registry(store)
        self.started_at = self.clock.now()
        self._last_flush = (0.0, -LAST_FLUSH_CACHE_S)  # (value, monotonic time read)
        self._lock = threading.Lock()

    # -- what the store says ------------------------------------------------------------------

    @property
    def last_flush_at(self) -> float:
        """The oldest partition's last flush (unix seconds; 0 before any): pool figures are
        complete as of then. Cached for a second; the last value read when the store fails."""
        with self._lock:
            value, read_at = self._last_flush
            if time.monotonic() - read_at < LAST_FLUSH_CACHE_S:
                return value
            try:
                pool = self.store.pool_stats()
            except sa.exc.SQLAlchemyError:
                return value
            value = float(pool["updated_at"]) if pool else 0.0
            self._last_flush = (value, time.monotonic())
            return value

    def partitions(self) -> list[partition_health.PartitionReport]:
        """Each partition's last flush and lease, judged stale or not (reads the store)."""
        now = self.clock.now()
        flushes = cluster_view.partition_flushes(self.store, self.settings.partitions)
        leases = cluster_view.all_leases(self.store)
        reports = []
        for k in range(self.settings.partitions):
            held = leases.get(lease_name(k))
            fact = (
                None
                if held is None
                else partition_health.LeaseFact(held.holder, held.epoch, held.expires_at)
            )
            reports.append(
                partition_health.report(
                    k, flushes.get(k), fact, now, self.settings.flush_interval_s
                )
            )
        return reports

    def health_report(self) -> tuple[int, dict[str, Any]]:
        """200 ``ok`` or ``degraded`` (stale partitions, with reasons) while the store
        answers; 503 when it cannot be read (this replica cannot answer anything)."""
        now = self.clock.now()
        # served_by: which replica answered (host:pid), as the dashboard's pool page shows
        body: dict[str, Any] = {
            "role": "api",
            "time": int(now),
            "served_by": process_id(),
        }
        try:
            reports = self.partitions()
            jobs = cluster_view.all_leases(self.store).get(JOBS_LEASE)
        except sa.exc.SQLAlchemyError as exc:
            reason = f"store: cannot be read ({type(exc).__name__})"
            body.update(status="degraded", reasons=[reason], partitions=[])
            return 503, body
        reasons = partition_health.reasons(reports, self.settings.flush_interval_s)
        flushed = [r.last_flush for r in reports if r.last_flush is not None]
        last = min(flushed) if len(flushed) == len(reports) and flushed else None
        body.update(
            status="degraded" if reasons else "ok",
            reasons=reasons,
            last_flush=last,
            flush_age_s=None if last is None else round(max(0.0, now - last), 3),
            partitions=[r.as_json() for r in reports],
            jobs=None
            if jobs is None
            else {"holder": jobs.holder, "expired": jobs.expires_at <= now},
        )
        return 200, body

    def scrape_gauges(self) -> None:
        """Each partition's flush age, and the oldest one's as ``poolstats_flush_age_seconds``."""
        try:
            reports = self.partitions()
        except sa.exc.SQLAlchemyError:
            log.warning("metrics: the store cannot be read; partition ages not updated")
            return
        gauge = self.metrics.partition_flush_age
        gauge.clear()
        for r in reports:
            if r.flush_age_s is not None:
                gauge.labels(str(r.partition)).set(r.flush_age_s)
        ages = [r.flush_age_s for r in reports if r.flush_age_s is not None]
        if ages:
            self.metrics.flush_age.set(max(ages))

    def window_diffs(self, top_n: int) -> WindowDiffs:
        """The pool's and the ``top_n`` busiest sub-accounts' accepted difficulty per window,
        from the stored snapshot rows (as of each partition's last flush)."""
        pool = self.store.pool_stats() or {}
        diffs = {w: float(pool.get(f"accept_{w}", 0.0)) for w in WINDOWS_S}
        top: dict[int, dict[str, float]] = {}
        if top_n > 0:
            for row in cluster_view.top_subaccounts(self.store, top_n):
                top[int(row["puid"])] = {w: float(row[f"accept_{w}"]) for w in WINDOWS_S}
        return WindowDiffs(diffs, top)

    # -- the app's lifespan -------------------------------------------------------------------

    async def run_timers(self) -> None:
        """Nothing periodic: every answer reads the store when asked."""

    def close(self) -> None:
        self.store.close()
