"""Builders of engine flushes and a raw connection, shared by the store tests."""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

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
from poolstats.store import SqliteStore
from poolstats.store.schema import WINDOW_COLUMNS

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
    """WorkerRows from dicts with puid, worker_id and optional fields."""
    return WorkerRows(
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


def raw(store: SqliteStore) -> sqlite3.Connection:
    """A plain sqlite3 connection to the store's file, as another process would have."""
    conn = sqlite3.connect(store.path, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn
