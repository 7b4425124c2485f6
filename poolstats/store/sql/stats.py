"""The stats port in SQL shared by both backends: snapshot rows, worker lists, history.

The flush and pruning differ per backend (``sqlite``, ``postgres``) and so does the history
lookup by enumerated bucket starts; ``history`` adds the workers' open buckets from their
rows (migration 0012) on both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa

from poolstats.domain.arrays import F64
from poolstats.domain.partitions import partition_of
from poolstats.domain.status import ACTIVE_S, INACTIVE_S, WorkerStatus
from poolstats.domain.worker_query import WorkerQuery
from poolstats.engine.snapshot import Flush, Level
from poolstats.store import schema
from poolstats.store.ports.stats import SINGLE_NODE, FlushWriter, WorkerPage
from poolstats.store.sql.unit_of_work import SqlUnitOfWork
from poolstats.store.sql.worker_lists import (
    _NOT_DELETED_BY_SCAN,
    _status_bounds,
    _w,
    worker_counts_one_pass,
    worker_page_statements,
)


class SqlStats(SqlUnitOfWork):
    """``StatsPort`` but ``write_flush`` and ``prune``, which each backend supplies."""

    # --- what a backend supplies ------------------------------------------------------------

    def write_flush(self, flush: Flush, writer: FlushWriter = SINGLE_NODE) -> None:
        raise NotImplementedError

    def prune(self, now: int, retention_s: dict[tuple[Level, int], int | None]) -> int:
        raise NotImplementedError

    def _history_by_bucket(self, level: Level, one_worker: bool) -> sa.TextClause:
        """History rows of a level for bucket starts ``first, first + period_s, .. < stop``
        with params first, stop, period_s, puid (and worker_id when ``one_worker``), ordered
        by (start, puid[, worker_id]), each start one primary-key lookup."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------

    def history_seq(self, key: str = schema.HISTORY_SEQ_KEY) -> int:
        """The newest sequence whose history deltas are stored under ``key`` (the journal's, or
        partition K's on the bus: ``schema.partition_seq_key``); 0 before any flush."""
        with self.read() as conn:
            value = conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == key)
            ).scalar_one_or_none()
        return int(value) if value is not None else 0

    def worker(self, puid: int, worker_id: int) -> dict[str, Any] | None:
        """One worker row (all columns), or ``None``."""
        w = schema.workers
        return self._one(sa.select(w).where(w.c.puid == puid, w.c.worker_id == worker_id))

    def workers(self, puid: int) -> list[dict[str, Any]]:
        """All worker rows of a sub-account, ordered by worker_id."""
        w = schema.workers
        return self._all(sa.select(w).where(w.c.puid == puid).order_by(w.c.worker_id))

    def subaccount_stats(self, puid: int) -> dict[str, Any] | None:
        """A sub-account's snapshot row, or ``None`` before its first flush."""
        s = schema.subaccount_stats
        return self._one(sa.select(s).where(s.c.puid == puid))

    def worker_page(self, puid: int, query: WorkerQuery) -> WorkerPage:
        """A page of workers and the number matching, both read in one transaction
        (``worker_page_statements`` says how). No list is kept between calls: other
        processes write worker rows too, and this object would not see their commits."""
        count, rows = worker_page_statements(puid, query, self.dialect)
        with self.read() as conn:
            total = int(conn.execute(count).scalar_one())
            page = [dict(r._mapping) for r in conn.execute(rows)] if query.limit else []
        return WorkerPage(total_count=total, rows=page)

    def worker_counts(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> dict[WorkerStatus, int]:
        """Workers per status, deleted ones left out: one pass over the sub-account's rows
        (``worker_counts_one_pass``)."""
        stmt = worker_counts_one_pass(puid, now, active_s, inactive_s)
        with self.read() as conn:
            active, inactive, dead = conn.execute(stmt).one()
        return {
            WorkerStatus.ACTIVE: int(active),
            WorkerStatus.INACTIVE: int(inactive),
            WorkerStatus.DEAD: int(dead),
        }

    def group_stats(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> list[dict[str, Any]]:
        """Per group_id with non-deleted workers (DEFAULT -1 included), by group_id: workers
        per status and in all, and the sum of every window column."""
        active_lo, inactive_lo = _status_bounds(now, active_s, inactive_s)
        lat = _w.c.last_accept_time

        def number(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
            return sa.func.count(sa.case((cond, 1)))

        query = (
            sa.select(
                _w.c.group_id,
                number(lat >= active_lo).label("workers_active"),
                number(sa.and_(lat >= inactive_lo, lat < active_lo)).label("workers_inactive"),
                number(lat < inactive_lo).label("workers_dead"),
                sa.func.count().label("workers_total"),
                *(sa.func.sum(_w.c[c]).label(c) for c in schema.WINDOW_COLUMNS),
            )
            # Every column of every row is needed: read the clustered rows, not an index.
            .where(_w.c.puid == puid, _NOT_DELETED_BY_SCAN)
            .group_by(_w.c.group_id)
            .order_by(_w.c.group_id)
        )
        return self._all(query)

    def pool_stats(self) -> dict[str, Any] | None:
        """The pool's snapshot, or ``None`` before the first flush: the sum of every writer's
        row (one for a single node; one per partition in a cluster, whose sub-accounts, and so
        workers and users, are disjoint), ``updated_at`` the oldest of them."""
        p = schema.pool_stats
        columns: list[sa.ColumnElement[Any]] = [
            sa.literal(1).label("id"),
            *(sa.func.sum(p.c[c]).label(c) for c in schema.WINDOW_COLUMNS),
            sa.func.sum(p.c.workers_active).label("workers_active"),
            sa.func.sum(p.c.users_active).label("users_active"),
            sa.func.min(p.c.updated_at).label("updated_at"),
            sa.func.count().label("rows"),
        ]
        stmt = sa.select(*columns)
        row = self._one(stmt)
        if row is None or not row.pop("rows"):
            return None
        return {k: int(v) if k in ("workers_active", "users_active", "updated_at") else v
                for k, v in row.items()}  # fmt: skip

    def retire_writers(self, partitions: int) -> int:
        p = schema.pool_stats
        with self.write() as conn:
            gone = conn.execute(sa.delete(p).where(p.c.id > schema.pool_row_id(partitions - 1)))
            return int(gone.rowcount)

    def history(
        self,
        level: Level,
        period_s: int,
        puid: int = 0,
        worker_id: int = 0,
        start_from: int = 0,
        start_to: int = 2**62,
    ) -> list[dict[str, Any]]:
        """Buckets with ``start_from <= start < start_to`` ordered by start; the row's columns.

        ``puid`` is ignored for the pool level and ``worker_id`` for all but the worker level;
        at the worker level ``worker_id=0`` (never a real id) returns every worker of ``puid``,
        ordered by (start, worker_id). A worker's open buckets (hour, day) are included: the
        sums so far of its worker row, as of the last flush.

        History is keyed bucket-first (see ``schema``), so a range on ``start`` would scan
        every worker's rows: instead the bucket starts in range (multiples of ``period_s``,
        clamped to the stored ones) are enumerated and each is one primary-key lookup.
        """
        rows = self._stored_history(level, period_s, puid, worker_id, start_from, start_to)
        if level is Level.WORKER and period_s in schema.OPEN_BUCKET_COLUMNS:
            rows = self._with_open_buckets(rows, period_s, puid, worker_id, start_from, start_to)
        return rows

    def _with_open_buckets(
        self,
        rows: list[dict[str, Any]],
        period_s: int,
        puid: int,
        worker_id: int,
        start_from: int,
        start_to: int,
    ) -> list[dict[str, Any]]:
        """``rows`` plus the workers' open buckets (their sums so far, in the worker rows:
        ``schema.OPEN_BUCKET_COLUMNS``), added to the row of the same bucket if there is one
        (early or late shares make one)."""
        start, accept, stale, reject = (_w.c[c] for c in schema.OPEN_BUCKET_COLUMNS[period_s])
        stmt = sa.select(
            _w.c.puid, _w.c.worker_id, start.label("start"), accept, stale, reject
        ).where(
            _w.c.puid == puid,
            start >= start_from,
            start < start_to,
            start > 0,
            sa.or_(accept != 0, stale != 0, reject != 0),
        )
        if worker_id != 0:
            stmt = stmt.where(_w.c.worker_id == worker_id)
        with self.read() as conn:
            open_rows = conn.execute(stmt).all()
        if not open_rows:
            return rows
        by_key = {(r["start"], r["worker_id"]): r for r in rows}
        for o in open_rows:
            key = (o.start, o.worker_id)
            row = by_key.get(key)
            if row is None:
                row = by_key[key] = {
                    "puid": o.puid,
                    "worker_id": o.worker_id,
                    "period_s": period_s,
                    "start": o.start,
                    "accept": 0.0,
                    "stale": 0.0,
                    "reject": 0.0,
                }
            else:
                row = by_key[key] = dict(row)
            for column, value in zip(("accept", "stale", "reject"), o[3:], strict=True):
                row[column] += value
        return [by_key[k] for k in sorted(by_key)]

    def open_buckets(
        self, period_s: int, partition: tuple[int, int] | None = None
    ) -> tuple[int, list[int], list[str], F64]:
        """The workers' newest open bucket of ``period_s`` as stored: (start, puids, worker
        names, sums of shape (3, n): accept, reject, stale), for ``Engine.load_open`` on
        recovery. One read of every worker row; (0, [], [], empty) when there is none.

        ``partition`` (K, N): only the sub-accounts of partition K of N (an aggregator's own;
        another partition's newest bucket may have moved on already)."""
        start, accept, stale, reject = (_w.c[c] for c in schema.OPEN_BUCKET_COLUMNS[period_s])
        stmt = sa.select(_w.c.puid, _w.c.worker_name, start, accept, reject, stale).where(
            start > 0, sa.or_(accept != 0, stale != 0, reject != 0)
        )
        if partition is None:
            stmt = stmt.where(start == sa.select(sa.func.max(start)).scalar_subquery())
        with self.read() as conn:
            found = conn.execute(stmt).all()
        if partition is not None:
            k, n = partition
            found = [r for r in found if partition_of(int(r[0]), n) == k]
            newest = max((int(r[2]) for r in found), default=0)
            found = [r for r in found if int(r[2]) == newest]
        if not found:
            return 0, [], [], np.zeros((3, 0))
        sums = np.array([r[3:] for r in found], np.float64).T
        return int(found[0][2]), [r[0] for r in found], [r[1] for r in found], sums

    def _stored_history(
        self,
        level: Level,
        period_s: int,
        puid: int,
        worker_id: int,
        start_from: int,
        start_to: int,
    ) -> list[dict[str, Any]]:
        t = schema.HISTORY_TABLES[level]
        if level is Level.POOL:
            stmt = sa.select(t).where(
                t.c.period_s == period_s, t.c.start >= start_from, t.c.start < start_to
            )
            return self._all(stmt.order_by(t.c.start))
        lo_hi = sa.select(
            sa.select(sa.func.min(t.c.start)).where(t.c.period_s == period_s).scalar_subquery(),
            sa.select(sa.func.max(t.c.start)).where(t.c.period_s == period_s).scalar_subquery(),
        )
        with self.read() as conn:
            lowest, highest = conn.execute(lo_hi).one()
            if lowest is None:
                return []
            first = max(-(-start_from // period_s) * period_s, lowest)
            stop = min(start_to, highest + 1)
            if first >= stop:
                return []
            one_worker = level is Level.SUBACCOUNT or worker_id != 0
            query = self._history_by_bucket(level, one_worker)
            params = {"first": first, "stop": stop, "period_s": period_s, "puid": puid}
            if level is Level.WORKER and one_worker:
                params["worker_id"] = worker_id
            return [dict(row._mapping) for row in conn.execute(query, params)]
