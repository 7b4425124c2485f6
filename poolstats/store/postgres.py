"""PostgreSQL backend: the scale-out store, a connection pool shared by writers and readers.

Why it is built this way:
- Every write transaction first takes one advisory transaction lock (``_WRITE_LOCK``), so
  writers run one at a time across every process on the database, as SQLite's single writer
  does. The read-then-write methods (``record_network``, ``move_workers``, settlement, name
  checks) are then correct under READ COMMITTED without retries, and a flush and a settlement
  never interleave. Readers take no lock: each read is one REPEATABLE READ snapshot.
- Migrations run inside a transaction holding ``pg_advisory_xact_lock(_MIGRATE_LOCK)``: a
  second process opening the same fresh database waits, then finds the schema at head.
- The flush COPYs its rows into temporary staging tables (one per target, kept by each
  pooled connection, emptied at commit) and merges each with one ``INSERT .. SELECT .. ON CONFLICT
  DO UPDATE``: one round trip per table instead of one statement per row.
- ``workers`` (fillfactor 50, no index on a column a flush changes: migration 0009) and the
  history partitions (fillfactor 50) are updated in place, HOT, without index writes. A worker
  row carries its open hourly and daily buckets (migration 0012), so a steady flush updates
  one row per worker; history rows come only for buckets that closed.
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
    OPEN_COLS,
    WORK_SPLIT_BITS,
    WORKER_COLS,
    history_params,
    pool_params,
    subaccount_params,
    work_params,
    worker_params,
)
from poolstats.store.migration import revision, upgrade
from poolstats.store.sql import SqlStore

log = logging.getLogger(__name__)

# Advisory lock keys (any bigint; these spell "poolstat" and "poolmigr" in ASCII).
_WRITE_LOCK = 0x706F6F6C73746174
_MIGRATE_LOCK = 0x706F6F6C6D696772
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


# staging table -> (target it is shaped like, columns COPYed)
_STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "stage_workers": ("workers", _WORKER_COLS),
    "stage_subaccount_stats": ("subaccount_stats", _SUB_COLS),
    "stage_work": ("work", _WORK_COLS),
    **{
        f"stage_{t.name}": (t.name, _history_cols(level))
        for level, t in schema.HISTORY_TABLES.items()
    },
}
_TEXT_COLS = frozenset({"worker_name", "last_share_ip"})
_OPEN_SUMS = tuple(c for c in OPEN_COLS if not c.endswith("_start"))
_FLOAT_COLS = frozenset({*_W, *_HISTORY_VALUES, *_OPEN_SUMS})


def _copy_types(stage: str) -> list[str]:
    """PostgreSQL types of a stage's columns, for binary COPY (no number-to-text round trip:
    measured 7x faster than text COPY for 100k worker rows)."""
    cols = _STAGES[stage][1]
    return ["text" if c in _TEXT_COLS else "float8" if c in _FLOAT_COLS else "int8" for c in cols]


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


def _merge(
    target: str, cols: tuple[str, ...], key: tuple[str, ...], sets: list[str]
) -> tuple[str, str]:
    """(UPDATE the rows that exist, INSERT the staged rows that do not): ``write_flush`` runs
    the INSERT only when the UPDATE matched fewer rows than were staged (in a steady state
    every row exists, and the anti-join is skipped). Race-free because writers hold
    ``_WRITE_LOCK``. The staged rows must be unique per key (an UPDATE applies one of them);
    ``sets`` refer to the old row as ``t`` and the staged one as ``s``."""
    listed = ", ".join(cols)
    stage = f"stage_{target}"
    return (
        f"UPDATE {target} AS t SET {', '.join(sets)} FROM {stage} AS s WHERE {_match(key)}",
        f"INSERT INTO {target} ({listed}) SELECT {', '.join('s.' + c for c in cols)} "
        f"FROM {stage} AS s WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {_match(key)}) "
        f"ORDER BY {', '.join('s.' + k for k in key)}",
    )


# A deleted worker (group 0) that sends shares again goes back to the default group; SET
# expressions see the old row, as in SQLite's upsert (flush_sql.WORKER_UPSERT).
_WORKER_MERGE = _merge(
    "workers",
    _WORKER_COLS,
    ("puid", "worker_id"),
    [
        f"group_id = CASE WHEN t.group_id = {schema.GROUP_DELETED} "
        "AND s.last_share_time > t.last_share_time "
        f"THEN {schema.GROUP_DEFAULT} ELSE t.group_id END",
        *(f"{c} = s.{c}" for c in _WORKER_COLS[2:] if c != "created_at"),
    ],
)
_SUB_MERGE = _merge(
    "subaccount_stats", _SUB_COLS, ("puid",), [f"{c} = s.{c}" for c in _SUB_COLS[1:]]
)
_MERGES = {
    "workers": _WORKER_MERGE,
    "subaccount_stats": _SUB_MERGE,
    **{
        t.name: _merge(
            t.name,
            _history_cols(level),
            ("period_s", "start", *schema.HISTORY_KEYS[level]),
            [f"{c} = t.{c} + s.{c}" for c in _HISTORY_VALUES],
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
        """One write transaction, after every other writer's (``_WRITE_LOCK``)."""
        with self._engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_WRITE_LOCK)))
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

    def _ensure_partitions(
        self, conn: sa.Connection, needed: Iterable[tuple[str, int, int]]
    ) -> list[tuple[str, int, int]]:
        """Make the partitions of (table, period_s, bucket start) that do not exist yet, and
        the one after each (so the next day's first flush finds it made). Returns those made,
        for ``_partitions`` once the transaction commits (a rollback takes them back)."""
        made = []
        wanted: set[tuple[str, int, int, int]] = set()
        for table, period_s, start in needed:
            lo, hi = partition_range(period_s, start)
            wanted.add((table, period_s, lo, hi))
            wanted.add((table, period_s, *partition_range(period_s, hi)))
        for table, period_s, lo, hi in sorted(wanted):
            if (table, period_s, lo) in self._partitions:
                continue
            # Under _WRITE_LOCK: no other writer can be making the same one.
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {partition_name(table, period_s, lo)} "
                f"PARTITION OF {table} FOR VALUES FROM ({period_s}, {lo}) TO ({period_s}, {hi}) "
                f"WITH (fillfactor = {_HISTORY_FILLFACTOR})"
            )
            made.append((table, period_s, lo))
        return made

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
        copies: list[tuple[str, Iterable[tuple[Any, ...]]]] = [
            ("stage_workers", worker_params(flush)),
            ("stage_subaccount_stats", subaccount_params(flush)),
            *((f"stage_{schema.HISTORY_TABLES[d.level].name}", history_params(d)) for d in history),
            ("stage_work", work_params(flush)),
        ]
        staged = {
            "workers": len(flush.workers.puid),
            "subaccount_stats": len(flush.subaccounts.puid),
        }
        for d in history:
            table = schema.HISTORY_TABLES[d.level].name
            staged[table] = staged.get(table, 0) + len(d.start)
        pool = dict(zip(_POOL_COLS, pool_params(flush, writer.pool_row_id), strict=True))
        needed = {
            (schema.HISTORY_TABLES[d.level].name, d.period_s, int(s))
            for d in flush.history
            for s in set(d.start.tolist())
        }
        with self.write(workers_changed=True) as conn:
            made = self._ensure_partitions(conn, needed)
            # sorts and hashes of 100k+ staged rows stay in memory (the default spills to disk)
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{_FLUSH_WORK_MEM}'")
            self._ensure_stages(conn)
            driver: Any = conn.connection.driver_connection
            sql = ""
            try:
                with driver.cursor() as cur:
                    for stage, rows in copies:
                        cols = ", ".join(_STAGES[stage][1])
                        sql = f"COPY {stage} ({cols}) FROM STDIN (FORMAT BINARY)"
                        with cur.copy(sql) as copy:
                            copy.set_types(_copy_types(stage))
                            for row in rows:
                                copy.write_row(row)
                    for table, n_staged in staged.items():
                        sql, insert = _MERGES[table]
                        cur.execute(sql)
                        if cur.rowcount < n_staged:  # some rows are new
                            sql = insert
                            cur.execute(sql)
                    sql = _WORK_MERGE
                    cur.execute(sql)
            except psycopg.Error as exc:  # same exception types as the Core-based methods
                raise sa.exc.DBAPIError.instance(
                    sql, None, exc, psycopg.Error, hide_parameters=True
                ) from exc
            conn.execute(sa.text(_POOL_UPSERT), pool)
            conn.execute(
                sa.text(_SEQ_UPSERT), {"key": writer.seq_key, "value": str(flush.seq)}
            )
            if writer.guard is not None:  # last: see FlushWriter
                writer.guard(conn)
        self._partitions.update(made)

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
