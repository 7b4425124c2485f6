"""A flush's rows for PostgreSQL's staging tables, as binary COPY columns (``store.pg_copy``)
taken straight from the engine's numpy arrays, checked as ``store.flush_sql`` checks them
for SQLite.

Two worker stages: rows an earlier flush wrote (``WorkerRows.stored``) need only what
changes (no name, no creation time, no facts: 4 of 31 columns fewer to send and to join),
and are UPDATEd; the others, and the stored rows whose facts are new
(``WorkerRows.new_facts``: a new agent, seldom), carry every column and are upserted. Rows
go in the engine's order, not sorted by key: the merges join by key, and sorting a million
keys cost 0.2 s per flush.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from poolstats.domain.arrays import I64
from poolstats.engine.snapshot import Flush, HistoryDelta
from poolstats.store import schema
from poolstats.store.flush_sql import (
    check_finite,
    check_history,
    check_lengths,
    check_worker_columns,
    updatable,
)
from poolstats.store.pg_copy import Column

_W = schema.WINDOW_COLUMNS
Staged = list[tuple[str, Column]]  # (column name, its binary COPY column)


def worker_split(flush: Flush) -> tuple[I64, I64]:
    """Positions of (rows to upsert, rows to update: known stored, no new facts) of the
    flush's workers (``flush_sql.updatable``)."""
    known = updatable(flush)
    return np.flatnonzero(~known).astype(np.int64), np.flatnonzero(known).astype(np.int64)


def worker_constants(flush: Flush) -> dict[str, int]:
    """The worker columns with one value for every row of a flush: bound once as parameters
    of the merge rather than staged a million times (``CONSTANT_WORKER_COLUMNS``)."""
    by_period = {o.period_s: o for o in flush.workers.open}
    starts = {
        cols[0]: int(by_period[p].start) if p in by_period else 0  # none open: start 0
        for p, cols in schema.OPEN_BUCKET_COLUMNS.items()
    }
    return {"created_at": flush.now, "updated_at": flush.now, **starts}


CONSTANT_WORKER_COLUMNS = (
    "created_at",
    "updated_at",
    *(c[0] for c in schema.OPEN_BUCKET_COLUMNS.values()),
)


def worker_columns(flush: Flush, rows: I64, full: bool) -> Staged:
    """The worker rows ``rows`` (ascending positions), but for the constant columns: what
    changes (``full``: every column) with the key; the text columns last, as
    ``binary_copy`` wants them."""
    _check_workers(flush)
    w = flush.workers
    every = len(rows) == len(w.puid)  # then rows is 0..n-1: the columns as they are

    def pick(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values if every else values[rows]

    cols: Staged = [("puid", ("int8", pick(w.puid))), ("worker_id", ("int8", pick(w.worker_id)))]
    cols += [(c, ("float8", pick(getattr(w.sums, c)))) for c in _W]
    cols += [
        ("accept_count", ("int8", pick(w.accept_count))),
        ("reject_count", ("int8", pick(w.reject_count))),
        ("last_share_time", ("int8", pick(w.last_share_time))),
        ("last_accept_time", ("int8", pick(w.last_accept_time))),
    ]
    by_period = {o.period_s: o for o in w.open}
    for period, (_, *sums) in schema.OPEN_BUCKET_COLUMNS.items():
        o = by_period.get(period)  # a period the flush lacks: no open bucket, sums 0
        if o is None:
            cols += [(c, ("float8", 0.0)) for c in sums]
        else:
            cols += [
                (c, ("float8", pick(v)))
                for c, v in zip(sums, (o.accept, o.stale, o.reject), strict=True)
            ]
    texts: list[tuple[str, str | list[str]]] = [("last_share_ip", w.last_share_ip)]
    if full:  # the facts too (unknown when not given: 0, "")
        first = w.first_share_time
        cols.append(("first_share_time", ("int8", 0 if first is None else pick(first))))
        agent = w.miner_agent
        texts = [("worker_name", w.worker_name), *texts, ("miner_agent", agent or "")]
    for name, strings in texts:
        if not isinstance(strings, str) and not every:
            strings = [strings[i] for i in rows.tolist()]
        cols.append((name, ("text", strings)))
    return cols


def subaccount_columns(flush: Flush) -> Staged:
    s = flush.subaccounts
    n = len(s.puid)
    check_lengths(
        "subaccounts", n, s.workers_active, s.last_share_time, *(getattr(s.sums, c) for c in _W)
    )
    check_finite("subaccounts", **{c: getattr(s.sums, c) for c in _W})
    return [
        ("puid", ("int8", s.puid)),
        *((c, ("float8", getattr(s.sums, c))) for c in _W),
        ("workers_active", ("int8", s.workers_active)),
        ("last_share_time", ("int8", s.last_share_time)),
        ("updated_at", ("int8", flush.now)),
    ]


def history_columns(d: HistoryDelta) -> Staged:
    """A delta's rows (unique per key: ``postgres.summed``)."""
    check_history(d)
    keys = schema.HISTORY_KEYS[d.level]
    return [
        ("period_s", ("int8", d.period_s)),
        ("start", ("int8", d.start)),
        *((k, ("int8", getattr(d, k))) for k in keys),
        ("accept", ("float8", d.accept)),
        ("stale", ("float8", d.stale)),
        ("reject", ("float8", d.reject)),
    ]


def _check_workers(flush: Flush) -> None:
    """``flush_sql``'s checks of the worker columns, and of their open buckets."""
    check_worker_columns(flush)
    w = flush.workers
    n = len(w.puid)
    by_period = {o.period_s: o for o in w.open}
    unknown = set(by_period) - set(schema.OPEN_BUCKET_COLUMNS)
    if unknown:
        raise ValueError(f"workers: no columns for open buckets of periods {sorted(unknown)}")
    for period, o in by_period.items():
        what = f"workers open {period}"
        check_lengths(what, n, o.accept, o.stale, o.reject)
        check_finite(what, accept=o.accept, stale=o.stale, reject=o.reject)
        if o.start % period:
            raise ValueError(f"{what}: bucket starts must be multiples of {period}")
