"""The flush as SQL: one upsert statement per table and its parameters, streamed from the
engine's numpy columns (``.tolist()`` + ``zip``) in primary-key order, so B-tree pages are
visited once, in order, and no 100k-tuple list is built."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np
import numpy.typing as npt

from poolstats.domain.arrays import I64
from poolstats.domain.earnings import SECONDS_PER_DAY
from poolstats.engine.snapshot import Flush, HistoryDelta, Level
from poolstats.store import schema


def _upsert_sql(table: str, cols: Sequence[str], key: Sequence[str], sets: Sequence[str]) -> str:
    """``INSERT .. ON CONFLICT(key) DO UPDATE``; only identifiers are formatted in, values bind."""
    marks = ", ".join("?" * len(cols))
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}"
    )


_W = schema.WINDOW_COLUMNS
# The open-bucket columns of a worker row (``schema.OPEN_BUCKET_COLUMNS``), in order.
OPEN_COLS = tuple(c for cols in schema.OPEN_BUCKET_COLUMNS.values() for c in cols)
# What changes every flush, in the order worker_params and worker_update_params give it.
_WORKER_CHANGING = (
    *_W, "accept_count", "reject_count", "last_share_time", "last_accept_time", "last_share_ip",
    "updated_at", *OPEN_COLS,
)  # fmt: skip
# The worker's facts (``WorkerRows.first_share_time``, ``miner_agent``): written by the
# upsert only, which the rows whose facts are new take (``worker_order``), never by the
# updates of the others, which leave the stored ones as they are.
FACT_COLS = ("first_share_time", "miner_agent")
# Every column of a worker row ``worker_params`` gives, in its order (the PostgreSQL stage too).
WORKER_COLS = ("puid", "worker_id", "worker_name", "created_at", *_WORKER_CHANGING, *FACT_COLS)


def fact_sets(old: str, new: str) -> list[str]:
    """SET expressions merging the facts of a worker row ``old`` with the values ``new``: the
    earliest first share time (0 is unknown, never earlier) and the newest agent unless it is
    empty. Portable SQL (no ``min``/``least``): both backends use them."""
    first = "first_share_time"
    return [
        f"{first} = CASE WHEN {new}.{first} > 0 AND ({old}.{first} = 0 OR "
        f"{new}.{first} < {old}.{first}) THEN {new}.{first} ELSE {old}.{first} END",
        f"miner_agent = CASE WHEN {new}.miner_agent = '' THEN {old}.miner_agent "
        f"ELSE {new}.miner_agent END",
    ]


# A deleted worker (group 0) that sends shares again goes back to the default group. SET
# expressions see the row as it was before the update, so the comparison uses the old time.
WORKER_UPSERT = _upsert_sql(
    "workers",
    WORKER_COLS,
    ("puid", "worker_id"),
    [
        f"group_id = CASE WHEN workers.group_id = {schema.GROUP_DELETED} "
        "AND excluded.last_share_time > workers.last_share_time "
        f"THEN {schema.GROUP_DEFAULT} ELSE workers.group_id END",
        *(f"{c} = excluded.{c}" for c in WORKER_COLS[2:] if c not in ("created_at", *FACT_COLS)),
        *fact_sets("workers", "excluded"),
    ],
)


def _update_sql(cols: Sequence[str], shared: dict[str, int] | None = None) -> str:
    """UPDATE of ``cols`` of one worker row by its key (bound after them), and of the columns
    ``shared`` to integers every row of the flush shares, written in as literals (``int``:
    nothing but digits gets in). ``?N`` numbers the parameters: the share time is read twice."""
    share_time = cols.index("last_share_time") + 1
    literals = [f"{c} = {int(v)}" for c, v in (shared or {}).items()]
    return (
        f"UPDATE workers SET group_id = CASE WHEN group_id = {schema.GROUP_DELETED} "
        f"AND ?{share_time} > last_share_time THEN {schema.GROUP_DEFAULT} ELSE group_id END, "
        + ", ".join([*(f"{c} = ?{i}" for i, c in enumerate(cols, 1)), *literals])
        + f" WHERE puid = ?{len(cols) + 1} AND worker_id = ?{len(cols) + 2}"
    )


# The same for rows an earlier flush wrote (``WorkerRows.stored``): an UPDATE binds fewer
# values than the upsert (no name, no creation time) and skips its failed insert attempt.
WORKER_UPDATE = _update_sql(_WORKER_CHANGING)
# And for rows whose other figures are stored already (``WorkerRows.plain``: the worker sent
# only accepted shares lately, the common case) an UPDATE of the rest: 12 values bound a row
# instead of 27. Each costs ~65 ns a row (``.tolist()``, ``zip``, the bind): ~1 s a million.
_PLAIN_KEPT = (
    *(c for c in _W if not c.startswith("accept_")),  # reject and stale windows
    "reject_count",
    "last_share_ip",
    *(c for c in OPEN_COLS if c.endswith(("_stale", "_reject"))),
)
_WORKER_ACCEPTING = tuple(c for c in _WORKER_CHANGING if c not in _PLAIN_KEPT)
# Of those, the flush's time and its open buckets' starts are the same in every row: written
# into the statement (``worker_accepted_update``) rather than bound on each row, 3 binds less.
_SHARED = ("updated_at", *(cols[0] for cols in schema.OPEN_BUCKET_COLUMNS.values()))
_ACCEPTING_BOUND = tuple(c for c in _WORKER_ACCEPTING if c not in _SHARED)
_SUB_COLS = ("puid", *_W, "workers_active", "last_share_time", "updated_at")
SUB_UPSERT = _upsert_sql(
    "subaccount_stats", _SUB_COLS, ("puid",), [f"{c} = excluded.{c}" for c in _SUB_COLS[1:]]
)
_POOL_COLS = ("id", *_W, "workers_active", "users_active", "updated_at")
POOL_UPSERT = _upsert_sql(
    "pool_stats", _POOL_COLS, ("id",), [f"{c} = excluded.{c}" for c in _POOL_COLS[1:]]
)
HISTORY_UPSERT: dict[Level, str] = {
    level: _upsert_sql(
        table.name,
        ("period_s", "start", *schema.HISTORY_KEYS[level], "accept", "stale", "reject"),
        ("period_s", "start", *schema.HISTORY_KEYS[level]),
        [f"{c} = {table.name}.{c} + excluded.{c}" for c in ("accept", "stale", "reject")],
    )
    for level, table in schema.HISTORY_TABLES.items()
}


SEQ_UPSERT = (
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
    "value = excluded.value WHERE CAST(excluded.value AS INTEGER) > CAST(meta.value AS INTEGER)"
)

# Work for settlement: booked into its own UTC day, or the first unsettled one if its day is
# settled already (``store.ledger``); the exact sum is carried between its two integer halves.
WORK_SPLIT_BITS = 40
_LO = 1 << WORK_SPLIT_BITS
WORK_UPSERT = (
    "INSERT INTO work (day, puid, net_at, diff_hi, diff_lo, capped) VALUES ("
    f"max(?, coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
    f"'{schema.SETTLED_THROUGH_KEY}') + {SECONDS_PER_DAY}, 0)), ?, ?, ?, ?, ?) "
    "ON CONFLICT (day, puid, net_at) DO UPDATE SET "
    f"diff_hi = diff_hi + excluded.diff_hi + (diff_lo + excluded.diff_lo) / {_LO}, "
    f"diff_lo = (diff_lo + excluded.diff_lo) % {_LO}, "
    "capped = capped + excluded.capped"
)


def work_params(flush: Flush) -> Iterator[tuple[int, ...]]:
    w = flush.work
    for day, puid, net_at, q, capped in zip(
        w.day, w.puid, w.net_at, w.diff_q, w.capped, strict=True
    ):
        yield day, puid, net_at, q >> WORK_SPLIT_BITS, q & (_LO - 1), capped


def check_lengths(what: str, n: int, *columns: Sized) -> None:
    """``zip`` would silently truncate ragged columns; a flush must be all or nothing."""
    if any(len(c) != n for c in columns):
        raise ValueError(f"{what}: columns differ in length (expected {n} rows each)")


def check_finite(what: str, **columns: npt.NDArray[np.float64]) -> None:
    """NaN would bind as NULL and fail deep in the transaction; name the culprit instead."""
    for name, values in columns.items():
        if not np.isfinite(values).all():
            raise ValueError(f"{what}: {name} holds NaN or infinity")


def key_order(flush: Flush) -> I64:
    """Positions of the flush's worker rows in primary-key order (B-tree pages are then
    visited once, in order)."""
    w = flush.workers
    return np.lexsort((w.worker_id, w.puid)).astype(np.int64)


def worker_order(flush: Flush, order: I64 | None = None) -> tuple[I64, I64]:
    """``key_order`` (or ``order``, the same computed before) split in two: (rows to insert
    or update whole, rows known to be stored and to have no new facts: ``updatable``)."""
    w = flush.workers
    if order is None:
        order = key_order(flush)
    if w.stored is None:
        return order, order[:0]
    known = updatable(flush)[order]
    return order[~known], order[known]


def updatable(flush: Flush) -> npt.NDArray[np.bool_]:
    """Per worker row: stored already (``WorkerRows.stored``) and without new facts
    (``WorkerRows.new_facts``), so an UPDATE of its figures alone is all it needs."""
    w = flush.workers
    n = len(w.puid)
    if w.stored is None:
        return np.zeros(n, np.bool_)
    check_lengths("workers", n, w.stored)
    if w.new_facts is None:
        return w.stored
    check_lengths("workers", n, w.new_facts)
    return w.stored & ~w.new_facts


def _open_columns(
    flush: Flush, order: I64, cols: Sequence[str] = OPEN_COLS
) -> dict[str, Iterable[Any]]:
    """The open-bucket columns ``cols`` of the rows ``order``; a period the flush does not
    have is stored as no open bucket (start 0)."""
    w = flush.workers
    by_period = {o.period_s: o for o in w.open}
    unknown = set(by_period) - set(schema.OPEN_BUCKET_COLUMNS)
    if unknown:
        raise ValueError(f"workers: no columns for open buckets of periods {sorted(unknown)}")
    out: dict[str, Iterable[Any]] = {}
    for period, (start, *sums) in schema.OPEN_BUCKET_COLUMNS.items():
        o = by_period.get(period)
        if o is None:
            out |= {start: itertools.repeat(0), **{c: itertools.repeat(0.0) for c in sums}}
            continue
        what = f"workers open {period}"
        check_lengths(what, len(w.puid), o.accept, o.stale, o.reject)
        check_finite(what, accept=o.accept, stale=o.stale, reject=o.reject)
        if o.start % period:
            raise ValueError(f"{what}: bucket starts must be multiples of {period}")
        out[start] = itertools.repeat(int(o.start))
        for c, v in zip(sums, (o.accept, o.stale, o.reject), strict=True):
            if c in cols:
                out[c] = v[order].tolist()
    return {c: v for c, v in out.items() if c in cols}


def _changing_columns(
    flush: Flush, order: I64, cols: Sequence[str] = _WORKER_CHANGING
) -> list[Iterable[Any]]:
    """``cols`` (of ``_WORKER_CHANGING``, in its order) of the rows ``order``, column by
    column."""
    w = flush.workers
    out = _open_columns(flush, order, cols)
    for c in cols:
        if c in _W:
            out[c] = getattr(w.sums, c)[order].tolist()
        elif c == "last_share_ip":
            out[c] = [w.last_share_ip[i] for i in order.tolist()]
        elif c == "updated_at":
            out[c] = itertools.repeat(flush.now)
        elif c not in out:
            out[c] = getattr(w, c)[order].tolist()
    return [out[c] for c in cols]


def worker_update_params(
    flush: Flush, order: I64, cols: Sequence[str] = _WORKER_CHANGING
) -> Iterator[tuple[Any, ...]]:
    """``WORKER_UPDATE``'s parameters for the rows ``order`` (see ``worker_order``); or,
    with other ``cols``, those of the UPDATE of them (``_update_sql``)."""
    check_worker_columns(flush)
    w = flush.workers
    return zip(
        *_changing_columns(flush, order, cols),
        w.puid[order].tolist(),
        w.worker_id[order].tolist(),
        strict=False,  # the repeats are endless; the lengths were checked
    )


def worker_accepted_update(flush: Flush) -> str:
    """The UPDATE of the accepted figures of this flush's plain rows (``plain_order``); its
    parameters: ``worker_accepted_params``."""
    starts = {o.period_s: o.start for o in flush.workers.open}
    shared = {"updated_at": flush.now} | {
        cols[0]: starts.get(period, 0) for period, cols in schema.OPEN_BUCKET_COLUMNS.items()
    }
    return _update_sql(_ACCEPTING_BOUND, shared)


def worker_accepted_params(flush: Flush, order: I64) -> Iterator[tuple[Any, ...]]:
    """``worker_accepted_update``'s parameters for the rows ``order`` (see ``plain_order``)."""
    return worker_update_params(flush, order, _ACCEPTING_BOUND)


def plain_order(flush: Flush, known: I64) -> tuple[I64, I64]:
    """The stored rows ``known`` (``worker_order``) split in two, each in its order: (rows
    to update whole, rows whose accepted figures alone changed: ``WorkerRows.plain``)."""
    plain = flush.workers.plain
    if plain is None:
        return known, known[:0]
    check_lengths("workers", len(flush.workers.puid), plain)
    accepted = plain[known]
    return known[~accepted], known[accepted]


def worker_params(flush: Flush, order: I64 | None = None) -> Iterator[tuple[Any, ...]]:
    """``WORKER_UPSERT``'s parameters for the rows ``order`` (default: all of them, in
    primary-key order)."""
    check_worker_columns(flush)
    w = flush.workers
    if order is None:
        order = np.lexsort((w.worker_id, w.puid)).astype(np.int64)
    return zip(
        w.puid[order].tolist(),
        w.worker_id[order].tolist(),
        [w.worker_name[i] for i in order.tolist()],
        itertools.repeat(flush.now),  # created_at (kept on update)
        *_changing_columns(flush, order),
        *_fact_columns(flush, order),
        strict=False,  # the repeats are endless; the lengths were checked
    )


def _fact_columns(flush: Flush, order: I64) -> tuple[Iterable[Any], Iterable[Any]]:
    """``FACT_COLS`` of the rows ``order``; not given, they are unknown (0, "")."""
    w = flush.workers
    first: Iterable[Any] = itertools.repeat(0)
    agent: Iterable[Any] = itertools.repeat("")
    if w.first_share_time is not None:
        first = w.first_share_time[order].tolist()
    if w.miner_agent is not None:
        agent = [w.miner_agent[i] for i in order.tolist()]
    return first, agent


def check_worker_columns(flush: Flush) -> None:
    w = flush.workers
    n = len(w.puid)
    check_lengths(
        "workers",
        n,
        w.worker_id,
        w.worker_name,
        w.accept_count,
        w.reject_count,
        w.last_share_time,
        w.last_accept_time,
        w.last_share_ip,
        *(getattr(w.sums, c) for c in _W),
        *(v for v in (w.first_share_time, w.miner_agent, w.new_facts) if v is not None),
    )
    check_finite("workers", **{c: getattr(w.sums, c) for c in _W})


def subaccount_params(flush: Flush) -> Iterator[tuple[Any, ...]]:
    s = flush.subaccounts
    n = len(s.puid)
    check_lengths(
        "subaccounts", n, s.workers_active, s.last_share_time, *(getattr(s.sums, c) for c in _W)
    )
    check_finite("subaccounts", **{c: getattr(s.sums, c) for c in _W})
    return zip(
        s.puid.tolist(),
        *(getattr(s.sums, c).tolist() for c in _W),
        s.workers_active.tolist(),
        s.last_share_time.tolist(),
        itertools.repeat(flush.now),
        strict=False,
    )


def pool_params(flush: Flush, row_id: int = 1) -> tuple[Any, ...]:
    """The pool row of this writer (``schema.pool_row_id``)."""
    p = flush.pool
    check_finite("pool", **{c: getattr(p.sums, c)[:1] for c in _W})
    sums = (float(getattr(p.sums, c)[0]) for c in _W)
    return (row_id, *sums, int(p.workers_active), int(p.users_active), flush.now)


def check_history(d: HistoryDelta) -> None:
    """``ValueError`` naming the delta unless its columns agree in length, its sums are
    finite and its bucket starts are multiples of its period: both backends' flushes check
    a delta so before writing any of it."""
    what = f"history {d.level}/{d.period_s}"
    n = len(d.start)
    check_lengths(what, n, d.accept, d.stale, d.reject)
    check_finite(what, accept=d.accept, stale=d.stale, reject=d.reject)
    # history() finds buckets by enumerating multiples of period_s: enforce the contract here.
    if d.period_s <= 0 or bool(np.any(d.start % d.period_s)):
        raise ValueError(f"{what}: bucket starts must be multiples of period_s > 0")
    if d.level is Level.WORKER:
        check_lengths(what, n, d.puid, d.worker_id)
    elif d.level is Level.SUBACCOUNT:
        check_lengths(what, n, d.puid)


def history_params(d: HistoryDelta) -> Iterator[tuple[Any, ...]]:
    """Delta rows in primary-key order ``(period_s, start, *level keys)``."""
    check_history(d)
    keys: list[list[int]]
    if d.level is Level.WORKER:
        order = np.lexsort((d.worker_id, d.puid, d.start))
        keys = [d.puid[order].tolist(), d.worker_id[order].tolist()]
    elif d.level is Level.SUBACCOUNT:
        order = np.lexsort((d.puid, d.start))
        keys = [d.puid[order].tolist()]
    else:
        order = np.argsort(d.start, kind="stable")
        keys = []
    return zip(
        itertools.repeat(d.period_s),
        d.start[order].tolist(),
        *keys,
        d.accept[order].tolist(),
        d.stale[order].tolist(),
        d.reject[order].tolist(),
        strict=False,
    )
