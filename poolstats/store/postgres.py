"""PostgreSQL backend: the scale-out store, a connection pool shared by writers and readers.

Why it is built this way:
- Every write transaction first takes one advisory transaction lock (``_WRITE_LOCK``).
  Flushes take it SHARED, every other writer EXCLUSIVE: the flushes of a cluster's partitions
  run at once (two 500k-worker flushes in parallel on two cores, not one after the other),
  while a read-then-write method (``record_network``, ``move_workers``, settlement, name
  checks) still runs alone and is correct under READ COMMITTED without retries. In particular
  a flush books work into "its day or the first unsettled one" from ``meta settled_through``,
  and a settlement reads the work of the days it settles: a settlement waits for the flushes
  in flight to commit, later flushes wait for it (PostgreSQL queues a shared request behind a
  waiting exclusive one), so work is never booked into a day being settled. Readers take no
  lock: each read is one REPEATABLE READ snapshot.
- Flushes of different partitions write different rows: workers, sub-account rows, worker
  and sub-account history and work are keyed by puid, each aggregator has its own
  ``pool_stats`` row and ``history_seq/K`` key. The one kind of row they share is the pool's
  history bucket: it is merged last (then the pool row, the sequence, the lease check), in
  key order, by one upsert, so a flush waits for another only there, for the other's commit,
  and two flushes take those row locks in the same order: no deadlock. Disjoint rows take no
  lock another flush wants (row locks only; unique-index inserts of different keys do not
  block each other). INSERTs use ON CONFLICT all the same, should two writers ever write the
  same key (a single node's ``serve`` is one writer).
- History partitions are made before the flush's transaction, each in a short one of its own
  holding ``_PARTITION_LOCK`` (so two flushes never race to create the same table), and only
  when missing (looked up first without a lock). ``CREATE TABLE .. PARTITION OF`` locks the
  parent exclusively: inside a flush it would wait for every other flush in flight while
  holding that flush's own locks, a deadlock in the making. Outside, it waits for them and
  holds nothing they need; it happens about once a day per table, a day ahead. A flush that
  then rolls back leaves an empty partition, which prune drops in its time.
- Migrations run inside a transaction holding ``pg_advisory_xact_lock(_MIGRATE_LOCK)``: a
  second process opening the same fresh database waits, then finds the schema at head.
- The flush COPYs its rows into temporary staging tables (one per target, kept by each
  pooled connection, emptied at commit) in binary, built from the engine's numpy arrays
  (``store.pg_copy``, ``store.pg_flush``: no Python object per value), and merges each with
  one statement: one round trip per table instead of one statement per row. Workers known to
  be stored go through a narrower stage (what changes only) and one UPDATE (should it find
  fewer rows than staged, every worker is upserted: their values are absolute, writing one
  twice is harmless); the other stages are upserted (INSERT .. ON CONFLICT), which stays
  right when a concurrent writer inserts the same key. Values the same for every row (the
  flush time, the open buckets' starts) are bound once as parameters.
- ``workers`` (fillfactor 50, no index on a column a flush changes: migration 0009; its text
  columns last, so that no padding follows them: 0015) and the history partitions (fillfactor
  50) are updated in place, HOT, without index writes. A worker row carries its open hourly
  and daily buckets (migration 0012), so a steady flush updates one row per worker; history
  rows come only for buckets that closed.
- Worker lists and status counts are SQL over the sub-account's rows, never kept in memory:
  other processes (a cluster's aggregators, jobs) write worker rows too.
- History tables are partitioned by ``(period_s, start)`` (migration 0009, ranges from
  ``domain.history_partitions``): a flush makes the partitions its buckets need (and the
  next one, ahead of time); prune drops partitions wholly past retention and deletes rows
  only in the one straddling the cut-off.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import psycopg
import sqlalchemy as sa

from poolstats.domain.earnings import SECONDS_PER_DAY
from poolstats.domain.history_partitions import partition_name, partition_range
from poolstats.engine.snapshot import Flush, HistoryDelta, Level
from poolstats.store import schema
from poolstats.store.base import SINGLE_NODE, FlushWriter, Store
from poolstats.store.flush_sql import (
    FACT_COLS,
    WORK_SPLIT_BITS,
    WORKER_COLS,
    fact_sets,
    pool_params,
    work_params,
)
from poolstats.store.migration import revision, upgrade
from poolstats.store.pg_copy import binary_copy
from poolstats.store.pg_flush import (
    CONSTANT_WORKER_COLUMNS,
    Staged,
    history_columns,
    subaccount_columns,
    worker_columns,
    worker_constants,
    worker_split,
)
from poolstats.store.sql import SqlStore

log = logging.getLogger(__name__)

# Advisory lock keys (any bigint; these spell "poolstat" and "poolmigr" in ASCII).
_WRITE_LOCK = 0x706F6F6C73746174
_MIGRATE_LOCK = 0x706F6F6C6D696772
_PARTITION_LOCK = 0x706F6F6C70617274  # "poolpart"
_POOL_SIZE = 8
_MAX_OVERFLOW = 16
_LO = 1 << WORK_SPLIT_BITS
_FLUSH_WORK_MEM = "256MB"
# History rows of the current buckets are updated every flush: room on each page lets those
# updates stay on the page (HOT) without a new index entry per update.
_HISTORY_FILLFACTOR = 50


def engine_url(store_url: str) -> sa.URL:
    """The SQLAlchemy URL of a user's ``postgresql://`` (or ``postgres://``) URL: psycopg 3."""
    url = sa.make_url(store_url)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")


def is_postgres_url(store_url: str) -> bool:
    return re.match(r"^postgres(ql)?(\+psycopg)?://", store_url) is not None


# --- the flush's SQL --------------------------------------------------------------------------

_W = schema.WINDOW_COLUMNS
_WORKER_COLS = WORKER_COLS  # the open history buckets' columns included (migration 0012)
_SUB_COLS = ("puid", *_W, "workers_active", "last_share_time", "updated_at")
_POOL_COLS = ("id", *_W, "workers_active", "users_active", "updated_at")
_WORK_COLS = ("day", "puid", "net_at", "diff_hi", "diff_lo", "capped")
_HISTORY_VALUES = ("accept", "stale", "reject")


def _history_cols(level: Level) -> tuple[str, ...]:
    return ("period_s", "start", *schema.HISTORY_KEYS[level], *_HISTORY_VALUES)


# staging table -> (target it is shaped like, columns COPYed). The worker stages list their
# text columns last (``pg_copy.binary_copy``); ``pg_flush`` gives each stage's columns in order.
_WORKER_TEXTS = ("worker_name", "last_share_ip", "miner_agent")
_WORKER_NUMBERS = tuple(
    c for c in _WORKER_COLS if c not in (*_WORKER_TEXTS, *CONSTANT_WORKER_COLUMNS)
)
# The update stage has no facts: rows whose facts are new are upserted (``worker_split``).
_UPDATE_NUMBERS = tuple(c for c in _WORKER_NUMBERS if c not in FACT_COLS)
_STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "stage_workers": ("workers", (*_WORKER_NUMBERS, *_WORKER_TEXTS)),
    "stage_worker_updates": ("workers", (*_UPDATE_NUMBERS, "last_share_ip")),
    "stage_subaccount_stats": ("subaccount_stats", _SUB_COLS),
    "stage_work": ("work", _WORK_COLS),
    **{
        f"stage_{t.name}": (t.name, _history_cols(level))
        for level, t in schema.HISTORY_TABLES.items()
    },
}
_WORK_TYPES = ["int8"] * len(_WORK_COLS)


def _stage_ddl(stage: str) -> str:
    target, cols = _STAGES[stage]
    # Only the columns COPYed, without constraints: the stage is a plain heap of rows.
    select = ", ".join(cols)
    return (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
        f"SELECT {select} FROM {target} WITH NO DATA"
    )


def _match(key: tuple[str, ...], a: str = "t", b: str = "s") -> str:
    return " AND ".join(f"{a}.{k} = {b}.{k}" for k in key)


def _update(target: str, stage: str, key: tuple[str, ...], sets: list[str]) -> str:
    """UPDATE the rows of ``target`` the stage holds (rows it lacks are left out)."""
    return f"UPDATE {target} AS t SET {', '.join(sets)} FROM {stage} AS s WHERE {_match(key)}"


def _upsert(
    target: str, stage: str, cols: tuple[str, ...], key: tuple[str, ...], sets: list[str]
) -> str:
    """INSERT the staged rows in key order, updating those that exist: one statement, so a
    row a concurrent flush inserts meanwhile is updated, never skipped (an UPDATE first and
    then an INSERT of the rows "not there" would lose an increment to that race). Rows are
    unique per key in a stage. A column of ``cols`` the stage lacks is a bound parameter of
    its name."""
    staged = _STAGES[stage][1]
    values = (f"s.{c}" if c in staged else f"CAST(%({c})s AS BIGINT)" for c in cols)
    return (
        f"INSERT INTO {target} AS t ({', '.join(cols)}) SELECT {', '.join(values)} "
        f"FROM {stage} AS s ORDER BY {', '.join('s.' + k for k in key)} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(sets)
    )


# A deleted worker (group 0) that sends shares again goes back to the default group; SET
# expressions see the old row as ``t`` and the new values as ``s`` (``excluded`` in an
# upsert), as in SQLite's upsert (flush_sql.WORKER_UPSERT). Applying it twice to the same
# row (an update, then the upsert of rows the update missed) changes nothing more. The
# upsert (``name``) merges the facts too (``fact_sets``); the update leaves them alone.
def _worker_sets(new: str, name: bool) -> list[str]:
    return [
        f"group_id = CASE WHEN t.group_id = {schema.GROUP_DELETED} "
        f"AND {new}.last_share_time > t.last_share_time "
        f"THEN {schema.GROUP_DEFAULT} ELSE t.group_id END",
        *(
            f"{c} = CAST(%({c})s AS BIGINT)" if c in CONSTANT_WORKER_COLUMNS else f"{c} = {new}.{c}"
            for c in _WORKER_COLS
            if c not in ("puid", "worker_id", "created_at", *FACT_COLS)
            and (name or c != "worker_name")
        ),
        *(fact_sets("t", new) if name else []),
    ]


_WORKER_KEY = ("puid", "worker_id")
# The worker UPDATE probes the primary key for each staged row (a nested loop) instead of
# hashing the whole table: a hash join reads every page of ``workers`` once to build the
# hash (pruning and dirtying it) and again to update it, through shared buffers smaller
# than the table. Measured on 1M workers: 3.4 s of server CPU instead of 3.8 s, 3.7-4.3 s
# instead of 3.9-6.0 s; and far less when few of the table's workers changed.
_BY_KEY = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
_ANY_JOIN = "RESET enable_hashjoin; RESET enable_mergejoin"
_WORKER_UPDATE = _update(
    "workers", "stage_worker_updates", _WORKER_KEY, _worker_sets("s", name=False)
)
_WORKER_UPSERT = _upsert(
    "workers", "stage_workers", _WORKER_COLS, _WORKER_KEY, _worker_sets("excluded", name=True)
)
# Every partition's flush adds to the same pool history rows: the only rows flushes share,
# merged last (see the module docstring).
_SHARED = "history_pool"
# table -> the upsert of its stage: a few rows per sub-account or closed bucket, not one per
# worker, so the per-row cost of ON CONFLICT is small here and its atomicity is what counts.
_MERGES: dict[str, str] = {
    "subaccount_stats": _upsert(
        "subaccount_stats",
        "stage_subaccount_stats",
        _SUB_COLS,
        ("puid",),
        [f"{c} = excluded.{c}" for c in _SUB_COLS[1:]],
    ),
    **{
        t.name: _upsert(
            t.name,
            f"stage_{t.name}",
            _history_cols(level),
            ("period_s", "start", *schema.HISTORY_KEYS[level]),
            [f"{c} = t.{c} + excluded.{c}" for c in _HISTORY_VALUES],
        )
        for level, t in schema.HISTORY_TABLES.items()
    },
}


def summed(d: HistoryDelta) -> HistoryDelta:
    """``d`` with one row per bucket key (increments of repeated keys added), so the staged
    rows are unique as the merge needs; ``d`` itself when its keys are unique already."""
    n = len(d.start)
    if n < 2:
        return d
    keys = (d.worker_id, d.puid, d.start)  # lexsort: last is the primary key
    order = np.lexsort(keys)
    same = np.ones(n - 1, dtype=bool)
    for k in keys:
        ordered = k[order]
        same &= ordered[1:] == ordered[:-1]
    if not same.any():
        return d
    firsts = np.concatenate(([0], np.flatnonzero(~same) + 1))
    pick = order[firsts]

    def add(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.add.reduceat(v[order], firsts)

    return dataclasses.replace(
        d,
        puid=d.puid[pick],
        worker_id=d.worker_id[pick],
        start=d.start[pick],
        accept=add(d.accept),
        stale=add(d.stale),
        reject=add(d.reject),
    )


# Work is booked into its own day or the first unsettled one (flush_sql.WORK_UPSERT); rows
# that land on the same day are summed first, carrying diff_lo's overflow into diff_hi.
_WORK_MERGE = (
    "INSERT INTO work (day, puid, net_at, diff_hi, diff_lo, capped) "
    f"SELECT d, puid, net_at, sum(diff_hi) + sum(diff_lo) / {_LO}, sum(diff_lo) % {_LO}, "
    "sum(capped) FROM (SELECT greatest(day, coalesce((SELECT CAST(value AS BIGINT) FROM meta "
    f"WHERE key = '{schema.SETTLED_THROUGH_KEY}') + {SECONDS_PER_DAY}, 0)) AS d, puid, net_at, "
    "diff_hi, diff_lo, capped FROM stage_work) AS booked GROUP BY d, puid, net_at "
    "ORDER BY d, puid, net_at "
    "ON CONFLICT (day, puid, net_at) DO UPDATE SET "
    f"diff_hi = work.diff_hi + excluded.diff_hi + (work.diff_lo + excluded.diff_lo) / {_LO}, "
    f"diff_lo = (work.diff_lo + excluded.diff_lo) % {_LO}, "
    "capped = work.capped + excluded.capped"
)
_POOL_UPSERT = (
    f"INSERT INTO pool_stats ({', '.join(_POOL_COLS)}) "
    f"VALUES ({', '.join(f':{c}' for c in _POOL_COLS)}) "
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _POOL_COLS[1:])
)
# The sequence only moves forward, whatever order flushes arrive in.
_SEQ_UPSERT = (
    "INSERT INTO meta (key, value) VALUES (:key, :value) ON CONFLICT (key) DO UPDATE SET "
    "value = excluded.value WHERE CAST(excluded.value AS BIGINT) > CAST(meta.value AS BIGINT)"
)


def _copy(cur: psycopg.Cursor[Any], stage: str, columns: Staged, n: int) -> str:
    """COPY ``n`` rows of ``columns`` (``pg_flush``) into ``stage``; the statement sent."""
    names = tuple(name for name, _ in columns)
    if names != _STAGES[stage][1]:
        raise AssertionError(f"{stage}: columns {names} differ from {_STAGES[stage][1]}")
    sql = f"COPY {stage} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
    with cur.copy(sql) as copy:
        for chunk in binary_copy([c for _, c in columns], n):
            copy.write(chunk)
    return sql


def _history_by_bucket(table: str, keys: tuple[str, ...]) -> sa.TextClause:
    """Key lookups per enumerated bucket start: ``generate_series`` drives a nested loop of
    primary-key probes, each in the one partition holding that start."""
    match = "".join(f" AND h.{k} = :{k}" for k in keys)
    return sa.text(
        "SELECT h.* FROM generate_series(CAST(:first AS BIGINT), CAST(:stop AS BIGINT) - 1, "
        "CAST(:period_s AS BIGINT)) AS s(start) "
        f"JOIN {table} AS h ON h.period_s = CAST(:period_s AS BIGINT) AND h.start = s.start"
        f"{match} ORDER BY h.period_s, h.start, h.puid"
        + (", h.worker_id" if table == "history_worker" else "")
    )


_HISTORY_BY_BUCKET = {
    (Level.WORKER, True): _history_by_bucket("history_worker", ("puid", "worker_id")),
    (Level.WORKER, False): _history_by_bucket("history_worker", ("puid",)),
    (Level.SUBACCOUNT, True): _history_by_bucket("history_subaccount", ("puid",)),
}

# Partitions as ``domain.history_partitions.partition_name`` writes them.
_PARTITION = re.compile(r"^(?P<table>history_\w+?)_p(?P<period>\d+)_(?P<lo>m?\d+)$")


class PostgresStore(SqlStore):
    """The :class:`~poolstats.store.base.Store` on a PostgreSQL database; see the module
    docstring."""

    dialect = "postgresql"

    def __init__(self, url: sa.URL, engine: sa.Engine) -> None:
        super().__init__()
        self.url = url
        self._engine = engine
        self._reader = engine.execution_options(isolation_level="REPEATABLE READ")
        self._partitions: set[tuple[str, int, int]] = set()  # (table, period_s, lo) made

    @classmethod
    def open(cls, store_url: str) -> PostgresStore:
        """Connect and migrate the database to the newest schema (see the module docstring)."""
        url = engine_url(store_url)
        engine = sa.create_engine(
            url, pool_size=_POOL_SIZE, max_overflow=_MAX_OVERFLOW, pool_pre_ping=True
        )
        store = cls(url, engine)
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    def migrate(self) -> str | None:
        """Apply pending migrations (one at a time across processes); the revision after."""
        with self._engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATE_LOCK)))
            upgrade(conn)
            return revision(conn)

    def revision(self) -> str | None:
        with self.read() as conn:
            return revision(conn)

    def close(self) -> None:
        self._engine.dispose()

    def __repr__(self) -> str:  # never the password
        return f"PostgresStore({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def write(self, workers_changed: bool = False) -> Iterator[sa.Connection]:
        """One write transaction, alone: after every other writer's, flushes included
        (``_WRITE_LOCK`` exclusive)."""
        with self._engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_WRITE_LOCK)))
            yield conn

    @contextmanager
    def _flush_write(self) -> Iterator[sa.Connection]:
        """A flush's transaction: alongside other flushes, never alongside another writer
        (``_WRITE_LOCK`` shared; see the module docstring)."""
        with self._engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(_WRITE_LOCK)))
            yield conn

    @contextmanager
    def lease_write(self) -> Iterator[sa.Connection]:
        """A write transaction for the ``leases`` table only, without ``_WRITE_LOCK``: a
        lease's renewal must not wait for a long settlement or flush of any process (it
        would expire meanwhile). Leases order their writers by their own row locks."""
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self._reader.connect() as conn:
            yield conn

    def _history_by_bucket(self, level: Level, one_worker: bool) -> sa.TextClause:
        return _HISTORY_BY_BUCKET[level, one_worker]

    # --- partitions ---------------------------------------------------------------------------

    def _ensure_partitions(self, needed: Iterable[tuple[str, int, int]]) -> None:
        """Make the partitions of (table, period_s, bucket start) that do not exist yet, and
        the one after each (so the next day's first flush finds it made), each in a short
        transaction of its own before the flush's (see the module docstring)."""
        wanted: set[tuple[str, int, int, int]] = set()
        for table, period_s, start in needed:
            lo, hi = partition_range(period_s, start)
            wanted.add((table, period_s, lo, hi))
            wanted.add((table, period_s, *partition_range(period_s, hi)))
        missing = sorted(w for w in wanted if w[:3] not in self._partitions)
        if not missing:
            return
        with self.read() as conn:  # most are made already: look without a lock
            names = [partition_name(t, p, lo) for t, p, lo, _ in missing]
            made = set(
                conn.execute(
                    sa.text(
                        "SELECT name FROM unnest(CAST(:names AS TEXT[])) AS name "
                        "WHERE to_regclass(name) IS NOT NULL"
                    ),
                    {"names": names},
                ).scalars()
            )
        self._partitions.update(
            w[:3] for w, name in zip(missing, names, strict=True) if name in made
        )
        missing = [w for w, name in zip(missing, names, strict=True) if name not in made]
        for table, period_s, lo, hi in missing:
            with self._engine.begin() as conn:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PARTITION_LOCK)))
                conn.exec_driver_sql(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(table, period_s, lo)} "
                    f"PARTITION OF {table} FOR VALUES FROM ({period_s}, {lo}) "
                    f"TO ({period_s}, {hi}) WITH (fillfactor = {_HISTORY_FILLFACTOR})"
                )
            self._partitions.add((table, period_s, lo))

    def _partitions_of(self, conn: sa.Connection, table: str) -> list[tuple[str, int, int]]:
        """(name, period_s, lo) of the table's partitions."""
        rows = conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST(:parent AS regclass)"
            ),
            {"parent": table},
        ).scalars()
        found = []
        for name in rows:
            m = _PARTITION.match(name)
            if m and m["table"] == table:
                found.append((name, int(m["period"]), int(m["lo"].replace("m", "-"))))
        return found

    # --- stats --------------------------------------------------------------------------------

    def write_flush(self, flush: Flush, writer: FlushWriter = SINGLE_NODE) -> None:
        """Apply a flush in one transaction: COPY into the staging tables, then one merge per
        table; history, work and ``history_seq`` land together."""
        history = [summed(d) for d in flush.history]
        fresh, known = worker_split(flush)
        # table -> its staged parts: (columns, rows); the shared rows last, since a flush
        # waits there for another's commit (see the module docstring)
        tables: dict[str, list[tuple[Staged, int]]] = {
            "subaccount_stats": [(subaccount_columns(flush), len(flush.subaccounts.puid))]
        }
        for d in sorted(history, key=lambda d: schema.HISTORY_TABLES[d.level].name == _SHARED):
            parts = tables.setdefault(schema.HISTORY_TABLES[d.level].name, [])
            parts.append((history_columns(d), len(d.start)))
        updates = worker_columns(flush, known, full=False)
        constants = worker_constants(flush)
        pool = dict(zip(_POOL_COLS, pool_params(flush, writer.pool_row_id), strict=True))
        self._ensure_partitions(
            (schema.HISTORY_TABLES[d.level].name, d.period_s, int(s))
            for d in flush.history
            for s in set(d.start.tolist())
        )
        with self._flush_write() as conn:
            # sorts and hashes of 100k+ staged rows stay in memory (the default spills to disk)
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{_FLUSH_WORK_MEM}'")
            self._ensure_stages(conn)
            driver: Any = conn.connection.driver_connection
            sql = ""
            try:
                with driver.cursor() as cur:
                    if len(known):
                        sql = _copy(cur, "stage_worker_updates", updates, len(known))
                        sql = _WORKER_UPDATE
                        cur.execute(_BY_KEY)
                        cur.execute(sql, constants)
                        updated = cur.rowcount
                        cur.execute(_ANY_JOIN)
                        if updated < len(known):  # not stored after all: upsert them all
                            fresh = np.arange(len(flush.workers.puid), dtype=np.int64)
                    if len(fresh):
                        columns = worker_columns(flush, fresh, full=True)
                        sql = _copy(cur, "stage_workers", columns, len(fresh))
                        sql = _WORKER_UPSERT
                        cur.execute(sql, constants)
                    if len(flush.work):
                        cols = ", ".join(_WORK_COLS)
                        sql = f"COPY stage_work ({cols}) FROM STDIN (FORMAT BINARY)"
                        with cur.copy(sql) as copy:
                            copy.set_types(_WORK_TYPES)
                            for row in work_params(flush):  # Python ints: sums may pass 2**63
                                copy.write_row(row)
                        sql = _WORK_MERGE
                        cur.execute(sql)
                    for table, parts in tables.items():
                        if not sum(n for _, n in parts):
                            continue
                        for columns, n in parts:
                            sql = _copy(cur, f"stage_{table}", columns, n)
                        sql = _MERGES[table]
                        cur.execute(sql)
            except psycopg.Error as exc:  # same exception types as the Core-based methods
                raise sa.exc.DBAPIError.instance(
                    sql, None, exc, psycopg.Error, hide_parameters=True
                ) from exc
            conn.execute(sa.text(_POOL_UPSERT), pool)
            conn.execute(sa.text(_SEQ_UPSERT), {"key": writer.seq_key, "value": str(flush.seq)})
            if writer.guard is not None:  # last: see FlushWriter
                writer.guard(conn)

    @staticmethod
    def _ensure_stages(conn: sa.Connection) -> None:
        """The staging tables live as long as the pooled connection: made by its first flush
        (IF NOT EXISTS, each time: a flush rolled back takes its CREATE with it)."""
        for stage in _STAGES:
            conn.exec_driver_sql(_stage_ddl(stage))

    def prune(self, now: int, retention_s: dict[tuple[Level, int], int | None]) -> int:
        """Drop the partitions whose every bucket is older than retention, delete the old rows
        of the partition straddling the cut-off; returns rows gone."""
        deleted = 0
        with self.write() as conn:
            for (level, period_s), keep_s in retention_s.items():
                if keep_s is None:
                    continue
                table = schema.HISTORY_TABLES[level]
                cutoff = now - keep_s
                for name, p, lo in self._partitions_of(conn, table.name):
                    if p != period_s:
                        continue
                    _, hi = partition_range(p, lo)
                    if hi <= cutoff:
                        deleted += int(
                            conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one()
                        )
                        conn.exec_driver_sql(f"DROP TABLE {name}")
                        self._partitions.discard((table.name, p, lo))
                result = conn.execute(
                    sa.delete(table)
                    .where(table.c.period_s == period_s)
                    .where(table.c.start < cutoff)
                )
                deleted += result.rowcount
        return deleted


if TYPE_CHECKING:  # mypy proves the backend satisfies the protocol
    _conforms: type[Store] = PostgresStore
