"""Builders of engine flushes and a raw connection, shared by the store tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np
from alembic import command

from poolstats.engine.snapshot import (
    Flush,
    HistoryDelta,
    Level,
    PoolRow,
    SubaccountRows,
    WindowSums,
    WorkerRows,
)
from poolstats.engine.work import NO_WORK, WorkRows
from poolstats.store.migration import alembic_config
from poolstats.store.postgres import PostgresStore
from poolstats.store.schema import WINDOW_COLUMNS
from poolstats.store.sql import SqlStore
from poolstats.store.sqlite import SqliteStore

NOW = 1_700_000_000
HOUR = 3600
DAY = 86400
H0 = NOW - NOW % HOUR  # an hour bucket start
D0 = NOW - NOW % DAY  # a day bucket start


def sums(rows: list[dict[str, float]]) -> WindowSums:
    """Window sums from per-row dicts; windows not given are 0."""
    return WindowSums(**{c: np.array([r.get(c, 0.0) for r in rows]) for c in WINDOW_COLUMNS})


def i64(values: list[int]) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.array(values, dtype=np.int64)


def f64(values: list[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.array(values, dtype=np.float64)


def worker_rows(workers: list[dict[str, Any]]) -> WorkerRows:
    """WorkerRows from dicts with puid, worker_id and optional fields (``first`` and
    ``agent``, the facts: given for every worker or for none; ``stored`` and ``new_facts``,
    the hints, likewise)."""

    def given(key: str) -> bool:
        return bool(workers) and all(key in w for w in workers)

    return WorkerRows(
        first_share_time=i64([w["first"] for w in workers]) if given("first") else None,
        miner_agent=[w["agent"] for w in workers] if given("agent") else None,
        stored=np.array([w["stored"] for w in workers], np.bool_) if given("stored") else None,
        new_facts=(
            np.array([w["new_facts"] for w in workers], np.bool_) if given("new_facts") else None
        ),
        puid=i64([w["puid"] for w in workers]),
        worker_id=i64([w["worker_id"] for w in workers]),
        worker_name=[w.get("name", f"w{w['worker_id']}") for w in workers],
        sums=sums([w.get("sums", {}) for w in workers]),
        accept_count=i64([w.get("accept_count", 0) for w in workers]),
        reject_count=i64([w.get("reject_count", 0) for w in workers]),
        last_share_time=i64([w.get("last_share_time", NOW) for w in workers]),
        last_accept_time=i64([w.get("last_accept_time", NOW) for w in workers]),
        last_share_ip=[w.get("ip", "") for w in workers],
    )


def make_flush(
    *,
    now: int = NOW,
    seq: int = 0,
    workers: list[dict[str, Any]] | None = None,
    subaccounts: list[dict[str, Any]] | None = None,
    pool: dict[str, Any] | None = None,
    history: list[HistoryDelta] | None = None,
    work: WorkRows = NO_WORK,
) -> Flush:
    subs = subaccounts or []
    pool = pool or {}
    return Flush(
        now=now,
        seq=seq,
        workers=worker_rows(workers or []),
        subaccounts=SubaccountRows(
            puid=i64([s["puid"] for s in subs]),
            sums=sums([s.get("sums", {}) for s in subs]),
            workers_active=i64([s.get("workers_active", 0) for s in subs]),
            last_share_time=i64([s.get("last_share_time", now) for s in subs]),
        ),
        pool=PoolRow(
            sums=sums([pool.get("sums", {})]),
            workers_active=pool.get("workers_active", 0),
            users_active=pool.get("users_active", 0),
        ),
        history=history or [],
        work=work,
    )


def delta(
    level: Level,
    period_s: int,
    rows: list[tuple[int, int, int, float, float, float]],
) -> HistoryDelta:
    """rows: (puid, worker_id, start, accept, stale, reject)."""
    return HistoryDelta(
        level=level,
        period_s=period_s,
        puid=i64([r[0] for r in rows]),
        worker_id=i64([r[1] for r in rows]),
        start=i64([r[2] for r in rows]),
        accept=f64([r[3] for r in rows]),
        stale=f64([r[4] for r in rows]),
        reject=f64([r[5] for r in rows]),
    )


def migrate(store: SqlStore, revision: str, down: bool = False) -> None:
    """Upgrade (or with ``down``, downgrade) the store's database to ``revision``."""
    with store.write() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def raw(store: SqlStore) -> Any:
    """A plain DB-API connection to the store's database, as another process would have: for
    SQLite a ``sqlite3`` connection, for PostgreSQL a ``PgRaw`` that behaves alike for the
    tests' statements (``?`` marks, rows by index or name, commit on leaving ``with``)."""
    if isinstance(store, PostgresStore):
        return PgRaw(store.url.render_as_string(hide_password=False))
    assert isinstance(store, SqliteStore)
    conn = sqlite3.connect(store.path, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


class PgRow(tuple[Any, ...]):
    """A row readable by index and, like ``sqlite3.Row``, by column name (``dict(row)``)."""

    names: tuple[str, ...] = ()

    def keys(self) -> tuple[str, ...]:
        return self.names

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)


class PgRaw:
    """A psycopg connection with ``sqlite3.Connection``'s shape where the tests use it."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        from psycopg.rows import RowMaker

        def rows(cursor: Any) -> RowMaker[PgRow]:
            names = tuple(d.name for d in cursor.description or ())

            def make(values: Sequence[Any]) -> PgRow:
                row = PgRow(values)
                row.names = names
                return row

            return make

        cur = self._conn.cursor(row_factory=rows)
        return cur.execute(sql.replace("?", "%s"), params or None)

    def iterdump(self) -> list[str]:
        """Every row of every table as text (what ``sqlite3``'s dump would show of them)."""
        tables = self.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
        return [repr(tuple(r)) for (t,) in tables for r in self.execute(f'SELECT * FROM "{t}"')]

    def __enter__(self) -> PgRaw:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self._conn.commit()
        self._conn.close()


def add_failing_trigger(store: SqlStore, name: str, event: str, table: str) -> None:
    """A trigger that makes every ``event`` (INSERT, DELETE ...) on ``table`` fail with an
    integrity error whose message is ``name``, to break a transaction at a chosen step."""
    with raw(store) as conn:
        if isinstance(store, PostgresStore):
            conn.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"RAISE EXCEPTION '{name}' USING ERRCODE = 'check_violation'; END $$"
            )
            conn.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        else:
            conn.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{name}'); END"
            )


def drop_trigger(store: SqlStore, name: str, table: str) -> None:
    with raw(store) as conn:
        if isinstance(store, PostgresStore):
            conn.execute(f"DROP TRIGGER {name} ON {table}")
        else:
            conn.execute(f"DROP TRIGGER {name}")
