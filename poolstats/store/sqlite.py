"""SQLite backend: the default store, one file, one writer connection, many readers.

Why it is built this way:
- WAL lets API readers run while a flush writes; ``synchronous=NORMAL`` in WAL only risks the
  last commits on power loss, never corruption, and the ingest journal replays those.
- Writes go through one connection behind a lock and start with ``BEGIN IMMEDIATE``, so the
  write lock is taken (waiting up to ``busy_timeout``) before anything is read; a deferred
  transaction could fail with "database is locked" when it upgrades while another process
  (``poolstats user create`` next to a running server) holds the lock.
- The flush hot path is one prepared statement per table, run with ``executemany`` on tuples
  streamed from numpy columns (``.tolist()`` + ``zip``); rows are sorted by primary key so
  B-tree pages are visited once, in order. History is keyed bucket-first for the same reason
  (see ``schema``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy import event

from poolstats.engine.snapshot import Flush, Level
from poolstats.store import schema
from poolstats.store.base import SINGLE_NODE, FlushWriter, Store
from poolstats.store.flush_sql import (
    HISTORY_UPSERT,
    POOL_UPSERT,
    SEQ_UPSERT,
    SUB_UPSERT,
    WORK_UPSERT,
    WORKER_UPSERT,
    history_params,
    pool_params,
    subaccount_params,
    work_params,
    worker_params,
)
from poolstats.store.migration import MIGRATIONS_DIR, alembic_config, upgrade
from poolstats.store.sql import SqlStore, worker_counts_statement, worker_page_statements

# Re-exported: tests EXPLAIN the statements and run the migrations by hand.
__all__ = [
    "DB_FILE",
    "MIGRATIONS_DIR",
    "SqliteStore",
    "peek_data_id",
    "worker_counts_statement",
    "worker_page_statements",
]
_alembic_config = alembic_config

log = logging.getLogger(__name__)

DB_FILE = "poolstats.sqlite3"
BUSY_TIMEOUT_MS = 10_000
_WRITER_CACHE_KIB = 64 * 1024  # page cache of the writer: a 100k-worker flush stays in memory
_READER_CACHE_KIB = 8 * 1024
_WAL_LIMIT_BYTES = 64 * 1024 * 1024


def _history_by_bucket(table: str, keys: Sequence[str]) -> sa.TextClause:
    """Key lookups per enumerated bucket start; CROSS JOIN makes SQLite loop over the starts.

    ``keys`` is a prefix of the level's key after (period_s, start): with all of it each start
    is one row lookup, with a prefix (every worker of a puid) one short range.
    """
    match = "".join(f" AND h.{k} = :{k}" for k in keys)
    return sa.text(
        "WITH RECURSIVE starts(start) AS ("
        " SELECT :first UNION ALL"
        " SELECT start + :period_s FROM starts WHERE start + :period_s < :stop)"
        f" SELECT h.* FROM starts CROSS JOIN {table} AS h"
        f" WHERE h.period_s = :period_s AND h.start = starts.start{match}"
        " ORDER BY h.period_s, h.start, h.puid"
        + (", h.worker_id" if table == "history_worker" else "")
    )


# (level, one worker?) -> query; worker_id 0 (never a real id) means every worker of the puid.
_HISTORY_BY_BUCKET = {
    (Level.WORKER, True): _history_by_bucket("history_worker", ("puid", "worker_id")),
    (Level.WORKER, False): _history_by_bucket("history_worker", ("puid",)),
    (Level.SUBACCOUNT, True): _history_by_bucket("history_subaccount", ("puid",)),
}


# The sequence only moves forward, whatever order flushes arrive in.
def _engine(path: Path, begin: str, pool_size: int, max_overflow: int, cache_kib: int) -> sa.Engine:
    """An engine whose connections carry our PRAGMAs and open transactions with ``begin``."""
    engine = sa.create_engine(
        sa.URL.create("sqlite+pysqlite", database=str(path)),
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        pool_size=pool_size,
        max_overflow=max_overflow,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own implicit BEGIN is deferred and skips DDL; we issue BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # first: WAL switch may wait
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA cache_size = -{cache_kib}")
        cur.execute("PRAGMA temp_store = MEMORY")
        # A large flush grows the WAL; without a limit the file keeps its peak size forever.
        cur.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT_BYTES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def peek_data_id(data_dir: Path) -> str | None:
    """The id of ``data_dir``'s database, read without changing it (no migration, no WAL
    checkpoint); None when it has none yet (a database older than migration 0008)."""
    uri = f"file:{data_dir / DB_FILE}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:  # any error here (a lock held past the busy timeout) is raised, not taken for "no id"
        table = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (schema.meta.name,)
        ).fetchone()
        if table is None:  # no meta table: not a poolstats database yet
            return None
        row = db.execute("SELECT value FROM meta WHERE key = ?", (schema.DATA_ID_KEY,)).fetchone()
    finally:
        db.close()
    return str(row[0]) if row else None


class SqliteStore(SqlStore):
    """The :class:`~poolstats.store.base.Store` on one SQLite file; see the module docstring."""

    dialect = "sqlite"
    counts_cached = True  # only this process writes worker rows (the journal admits one)

    def __init__(self, path: Path, writer: sa.Engine, reader: sa.Engine) -> None:
        super().__init__()
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path) -> SqliteStore:
        """Create ``data_dir`` and the database if needed and migrate it to the newest schema.

        Safe while other processes have the database open: the migration runs inside the
        writer's ``BEGIN IMMEDIATE``, so a concurrent opener waits and then finds it done.
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / DB_FILE
        writer = _engine(path, "BEGIN IMMEDIATE", 1, 0, _WRITER_CACHE_KIB)
        reader = _engine(path, "BEGIN", 4, 16, _READER_CACHE_KIB)
        store = cls(path, writer, reader)
        try:
            with store.write() as conn:
                upgrade(conn)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Dispose both connection pools (checkpoints the WAL when the last one closes)."""
        self._writer.dispose()
        self._reader.dispose()

    @contextmanager
    def write(self, workers_changed: bool = False) -> Iterator[sa.Connection]:
        """One write transaction on the single writer connection; commits unless it raises.

        ``workers_changed`` invalidates the cached worker counts once the commit is done.
        """
        with self._lock:
            with self._writer.begin() as conn:
                yield conn
            if workers_changed:
                self._generation += 1

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction: one consistent snapshot for all its statements."""
        with self._reader.connect() as conn:
            yield conn

    def _history_by_bucket(self, level: Level, one_worker: bool) -> sa.TextClause:
        return _HISTORY_BY_BUCKET[level, one_worker]

    # --- stats ------------------------------------------------------------------------------

    def write_flush(self, flush: Flush, writer: FlushWriter = SINGLE_NODE) -> None:
        """Apply a flush in one transaction, so history, work and ``history_seq`` land together.

        Parameters are streamed from ``zip`` iterators straight into the driver's
        ``executemany``: measured faster than ``exec_driver_sql`` with a list (no 100k-tuple
        list, no garbage-collector passes over it) and 3x faster than a Core ``insert()``.
        """
        statements: list[tuple[str, Iterable[tuple[Any, ...]]]] = [
            (WORKER_UPSERT, worker_params(flush)),
            (SUB_UPSERT, subaccount_params(flush)),
            (POOL_UPSERT, [pool_params(flush, writer.pool_row_id)]),
            *((HISTORY_UPSERT[d.level], history_params(d)) for d in flush.history),
            (WORK_UPSERT, work_params(flush)),
            (SEQ_UPSERT, [(writer.seq_key, str(flush.seq))]),
        ]
        with self.write(workers_changed=True) as conn:
            if writer.guard is not None:
                writer.guard(conn)
            # The SQLAlchemy transaction (BEGIN IMMEDIATE) is open on this very DBAPI connection.
            driver = cast(sqlite3.Connection, conn.connection.driver_connection)
            cursor = driver.cursor()
            try:
                for sql, rows in statements:
                    cursor.executemany(sql, rows)
            except sqlite3.Error as exc:  # same exception types as the Core-based methods
                raise sa.exc.DBAPIError.instance(
                    sql, None, exc, sqlite3.Error, hide_parameters=True
                ) from exc
            finally:
                cursor.close()

    def prune(self, now: int, retention_s: dict[tuple[Level, int], int | None]) -> int:
        """Delete history buckets with ``start < now - retention``; returns rows deleted."""
        deleted = 0
        with self.write() as conn:
            for (level, period_s), keep_s in retention_s.items():
                if keep_s is None:
                    continue
                table = schema.HISTORY_TABLES[level]
                result = conn.execute(
                    sa.delete(table)
                    .where(table.c.period_s == period_s)
                    .where(table.c.start < now - keep_s)
                )
                deleted += result.rowcount
        return deleted


if TYPE_CHECKING:  # mypy proves the backend satisfies the protocol
    _conforms: type[Store] = SqliteStore
