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
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from poolstats.engine.snapshot import Flush, Level
from poolstats.store import schema
from poolstats.store.base import (
    NewUser,
    Store,
    UserExists,
    hash_access_key,
    key_hash_matches,
    new_access_key,
    validate_user_name,
)
from poolstats.store.flush_sql import (
    HISTORY_UPSERT,
    POOL_UPSERT,
    SEQ_UPSERT,
    SUB_UPSERT,
    WORKER_UPSERT,
    history_params,
    pool_params,
    subaccount_params,
    worker_params,
)

log = logging.getLogger(__name__)

DB_FILE = "poolstats.sqlite3"
BUSY_TIMEOUT_MS = 10_000
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
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


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


class SqliteStore:
    """The :class:`~poolstats.store.base.Store` on one SQLite file; see the module docstring."""

    def __init__(self, path: Path, writer: sa.Engine, reader: sa.Engine) -> None:
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
            with store._write() as conn:
                cfg = _alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Dispose both connection pools (checkpoints the WAL when the last one closes)."""
        self._writer.dispose()
        self._reader.dispose()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One write transaction on the single writer connection; commits unless it raises."""
        with self._lock, self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        """A read transaction: one consistent snapshot for all its statements."""
        with self._reader.connect() as conn:
            yield conn

    # --- accounts ---------------------------------------------------------------------------

    def create_user(self, name: str, now: int) -> NewUser:
        """One account + one sub-account named ``name`` + one read-write key (returned once)."""
        validate_user_name(name)
        access_key = new_access_key()
        acc, sub = schema.accounts, schema.subaccounts
        try:
            with self._write() as conn:
                taken = conn.execute(
                    sa.select(acc.c.id)
                    .where(acc.c.name == name)
                    .union_all(sa.select(sub.c.puid).where(sub.c.name == name))
                ).first()
                if taken is not None:
                    raise UserExists(f"user name {name!r} is already taken")
                account_id = conn.execute(
                    sa.insert(acc).values(name=name, created_at=now).returning(acc.c.id)
                ).scalar_one()
                puid = conn.execute(
                    sa.insert(sub)
                    .values(account_id=account_id, name=name, created_at=now)
                    .returning(sub.c.puid)
                ).scalar_one()
                conn.execute(
                    sa.insert(schema.access_keys).values(
                        account_id=account_id,
                        key_hash=hash_access_key(access_key),
                        read_only=False,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:  # only if another writer bypassed the check above
            raise UserExists(f"user name {name!r} is already taken") from exc
        log.info("created user %s (puid %d)", name, puid)
        return NewUser(puid=puid, user_name=name, access_key=access_key)

    def revoke_key(self, access_key: str, now: int) -> bool:
        """Mark a key revoked; it opens nothing afterwards. ``False`` if unknown or revoked."""
        keys = schema.access_keys
        with self._write() as conn:
            result = conn.execute(
                sa.update(keys)
                .where(keys.c.key_hash == hash_access_key(access_key))
                .where(keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(result.rowcount)

    def subaccounts(self) -> dict[str, int]:
        """Every sub-account name -> puid."""
        sub = schema.subaccounts
        with self._read() as conn:
            rows = conn.execute(sa.select(sub.c.name, sub.c.puid).order_by(sub.c.puid))
            return {name: puid for name, puid in rows}

    def puid_of(self, name: str) -> int | None:
        """The puid of a sub-account name, or ``None`` (one indexed lookup)."""
        sub = schema.subaccounts
        with self._read() as conn:
            puid = conn.execute(sa.select(sub.c.puid).where(sub.c.name == name)).scalar()
        return None if puid is None else int(puid)

    def subaccount_exists(self, puid: int) -> bool:
        """Whether a sub-account with this puid exists (one primary-key lookup)."""
        sub = schema.subaccounts
        with self._read() as conn:
            found = conn.execute(sa.select(sub.c.puid).where(sub.c.puid == puid)).scalar()
        return found is not None

    def subaccount_by_key(self, access_key: str) -> list[int]:
        """The puids of the key's account; ``[]`` for an unknown or revoked key."""
        keys, sub = schema.access_keys, schema.subaccounts
        with self._read() as conn:
            rows = conn.execute(
                sa.select(keys.c.key_hash, sub.c.puid)
                .join(sub, sub.c.account_id == keys.c.account_id)
                .where(keys.c.key_hash == hash_access_key(access_key))
                .where(keys.c.revoked_at.is_(None))
                .order_by(sub.c.puid)
            ).all()
        return [puid for stored, puid in rows if key_hash_matches(stored, access_key)]

    # --- stats ------------------------------------------------------------------------------

    def write_flush(self, flush: Flush) -> None:
        """Apply a flush in one transaction, so history and ``history_seq`` land together.

        Parameters are streamed from ``zip`` iterators straight into the driver's
        ``executemany``: measured faster than ``exec_driver_sql`` with a list (no 100k-tuple
        list, no garbage-collector passes over it) and 3x faster than a Core ``insert()``.
        """
        statements: list[tuple[str, Iterable[tuple[Any, ...]]]] = [
            (WORKER_UPSERT, worker_params(flush)),
            (SUB_UPSERT, subaccount_params(flush)),
            (POOL_UPSERT, [pool_params(flush)]),
            *((HISTORY_UPSERT[d.level], history_params(d)) for d in flush.history),
            (SEQ_UPSERT, [(schema.HISTORY_SEQ_KEY, str(flush.seq))]),
        ]
        with self._write() as conn:
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

    def history_seq(self) -> int:
        """The newest journal sequence whose history deltas are stored; 0 before any flush."""
        with self._read() as conn:
            value = conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == schema.HISTORY_SEQ_KEY)
            ).scalar_one_or_none()
        return int(value) if value is not None else 0

    def prune(self, now: int, retention_s: dict[tuple[Level, int], int | None]) -> int:
        """Delete history buckets with ``start < now - retention``; returns rows deleted."""
        deleted = 0
        with self._write() as conn:
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

    # --- reads ------------------------------------------------------------------------------

    def _one(self, stmt: sa.Select[Any]) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else dict(row._mapping)

    def _all(self, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

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

    def top_subaccounts(self, limit: int = 50) -> list[dict[str, Any]]:
        """Sub-accounts' snapshot rows with their names, busiest (15-minute accepts) first."""
        s, sub = schema.subaccount_stats, schema.subaccounts
        query = (
            sa.select(s, sub.c.name)
            .join(sub, sub.c.puid == s.c.puid)
            .order_by(s.c.accept_15m.desc(), s.c.puid)
            .limit(limit)
        )
        return self._all(query)

    def group_sums(self, puid: int) -> list[dict[str, Any]]:
        """Per worker group of a sub-account (deleted workers, group 0, left out): the number
        of workers and the sums of their window figures, by group_id."""
        w = schema.workers
        sums = [sa.func.sum(w.c[name]).label(name) for name in schema.WINDOW_COLUMNS]
        query = (
            sa.select(w.c.group_id, sa.func.count().label("workers"), *sums)
            .where(w.c.puid == puid, w.c.group_id != 0)
            .group_by(w.c.group_id)
            .order_by(w.c.group_id)
        )
        return self._all(query)

    def top_workers(self, puid: int, limit: int = 50) -> list[dict[str, Any]]:
        """A sub-account's worker rows, busiest (15-minute accepts) first."""
        w = schema.workers
        query = (
            sa.select(w)
            .where(w.c.puid == puid, w.c.group_id != 0)
            .order_by(w.c.accept_15m.desc(), w.c.worker_id)
            .limit(limit)
        )
        return self._all(query)

    def pool_stats(self) -> dict[str, Any] | None:
        """The pool's snapshot row, or ``None`` before the first flush."""
        p = schema.pool_stats
        return self._one(sa.select(p).where(p.c.id == 1))

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
        ordered by (start, worker_id).

        History is keyed bucket-first (see ``schema``), so a range on ``start`` would scan
        every worker's rows: instead the bucket starts in range (multiples of ``period_s``,
        clamped to the stored ones) are enumerated and each is one primary-key lookup.
        """
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
        with self._read() as conn:
            lowest, highest = conn.execute(lo_hi).one()
            if lowest is None:
                return []
            first = max(-(-start_from // period_s) * period_s, lowest)
            stop = min(start_to, highest + 1)
            if first >= stop:
                return []
            one_worker = level is Level.SUBACCOUNT or worker_id != 0
            query = _HISTORY_BY_BUCKET[level, one_worker]
            params = {"first": first, "stop": stop, "period_s": period_s, "puid": puid}
            if level is Level.WORKER and one_worker:
                params["worker_id"] = worker_id
            return [dict(row._mapping) for row in conn.execute(query, params)]


if TYPE_CHECKING:  # mypy proves the backend satisfies the protocol
    _conforms: type[Store] = SqliteStore
