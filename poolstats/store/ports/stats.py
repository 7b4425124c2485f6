"""The stats port: what the engine's flushes store and every reader of figures reads.

Snapshots (pool, sub-account, worker rows), history buckets, the workers' open buckets and
the stored sequence that recovery resumes from. Times are unix seconds; values are sums of
share difficulty (see ``engine.snapshot``). The rules of a worker list are
``domain.worker_query``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from poolstats.domain.arrays import F64
from poolstats.domain.status import ACTIVE_S, INACTIVE_S, WorkerStatus
from poolstats.domain.worker_query import WorkerQuery
from poolstats.engine.snapshot import Flush, Level
from poolstats.store import schema


@dataclass(frozen=True)
class FlushWriter:
    """Who writes a flush: a single node (``partition`` None) or partition K's aggregator.

    It decides which stored sequence the flush moves (``schema.partition_seq_key``) and which
    pool row it writes (``schema.pool_row_id``). ``guard`` runs inside the flush's own
    transaction, last, just before the commit, and raises to refuse it: an aggregator's lease
    check, so that one that lost its lease unaware can never write after the next holder.
    Last, because the check locks the lease row until the commit: first, it would hold off
    the lease's own renewals for as long as a large flush takes.
    """

    partition: int | None = None
    guard: Callable[[sa.Connection], None] | None = None

    @property
    def seq_key(self) -> str:
        if self.partition is None:
            return schema.HISTORY_SEQ_KEY
        return schema.partition_seq_key(self.partition)

    @property
    def pool_row_id(self) -> int:
        return schema.pool_row_id(self.partition)


SINGLE_NODE = FlushWriter()


@dataclass(frozen=True)
class WorkerPage:
    """What ``worker_page`` answers: a page of rows and how many rows the filters match."""

    total_count: int  # rows matching the filters, before offset and limit
    rows: list[dict[str, Any]]  # workers table rows (every column), in the query's order


class StatsPort(Protocol):
    """Realtime snapshots and history. Every method is safe to call from several threads."""

    def write_flush(self, flush: Flush, writer: FlushWriter = SINGLE_NODE) -> None:
        """Apply one engine flush atomically (snapshots, history increments, and the writer's
        stored sequence), checked by ``writer.guard`` before it commits; the workers' open
        buckets (``WorkerRows.open``) go with their worker rows."""
        ...

    def open_buckets(
        self, period_s: int, partition: tuple[int, int] | None = None
    ) -> tuple[int, list[int], list[str], F64]:
        """The workers' newest open bucket of ``period_s`` as the last flush wrote it: (start,
        puids, worker names, sums (3, n): accept, reject, stale); for ``Engine.load_open``.
        ``partition`` (K, N): only partition K's sub-accounts."""
        ...

    def history_seq(self, key: str = schema.HISTORY_SEQ_KEY) -> int:
        """Sequence (journal, or bus for ``schema.partition_seq_key``) of the newest batch
        whose history is stored; 0 if none."""
        ...

    def prune(self, now: int, retention_s: dict[tuple[Level, int], int | None]) -> int:
        """Delete history buckets older than their retention (``None`` keeps them); rows gone."""
        ...

    def worker(self, puid: int, worker_id: int) -> dict[str, Any] | None:
        """One worker's snapshot row."""
        ...

    def workers(self, puid: int) -> list[dict[str, Any]]:
        """Every worker row of a sub-account, by worker_id."""
        ...

    def worker_page(self, puid: int, query: WorkerQuery) -> WorkerPage:
        """One page of the sub-account's workers and how many match (see ``WorkerQuery``)."""
        ...

    def worker_counts(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> dict[WorkerStatus, int]:
        """Workers per status (``domain.status.worker_status``), deleted ones left out."""
        ...

    def group_stats(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> list[dict[str, Any]]:
        """Per group_id with non-deleted workers, by group_id: ``workers_active``,
        ``workers_inactive``, ``workers_dead``, ``workers_total`` and the sum of every window."""
        ...

    def subaccount_stats(self, puid: int) -> dict[str, Any] | None:
        """A sub-account's snapshot row."""
        ...

    def pool_stats(self) -> dict[str, Any] | None:
        """The pool's snapshot row."""
        ...

    def retire_writers(self, partitions: int) -> int:
        """Delete the ``pool_stats`` rows of partitions ``partitions`` and up (the count was
        lowered): no one writes them any more, and the pool's figures would add them up for
        ever. Rows gone."""
        ...

    def history(
        self,
        level: Level,
        period_s: int,
        puid: int = 0,
        worker_id: int = 0,
        start_from: int = 0,
        start_to: int = 2**62,
    ) -> list[dict[str, Any]]:
        """History buckets with ``start_from <= start < start_to``, ordered by start.

        ``worker_id=0`` at the worker level means every worker of ``puid``. Workers' open
        buckets are included (their sums so far, as of the last flush).
        """
        ...
