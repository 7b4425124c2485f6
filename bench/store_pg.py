"""Benchmark the PostgreSQL store: a node's flush (drain + ``PostgresStore.write_flush``) of n
workers that all sent shares (``bench.flush.steady_flushes``), the first and then
``FLUSHES`` in a row on a fresh database, and ``worker_page`` on 100k workers of one
sub-account sorted by accept_15m.

Needs a PostgreSQL server: ``POOLSTATS_BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); a database is made and dropped per run.

    python -m bench.store_pg [n_workers ...]
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from bench.flush import make_flush, steady_flushes
from poolstats.domain.status import WorkerStatus
from poolstats.store.base import WorkerQuery
from poolstats.store.postgres import PostgresStore

ADMIN_URL = os.environ.get("POOLSTATS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
FLUSHES = 5
INTERVAL_S = 15
PAGE_WORKERS = 100_000
PAGE_CALLS = 30


@contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    name = f"poolstats_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flushes(n_workers: int) -> dict[str, Any]:
    """``bench.flush.steady`` on PostgreSQL: an engine whose ``n_workers`` all send shares,
    drained into a fresh database every 10 s; the first flush inserts every row, the next
    ``FLUSHES`` update them all (one worker row each, its open buckets included: the
    history rows wait for the buckets to close)."""
    with fresh_database() as url, PostgresStore.open(url) as store:
        result = steady_flushes(store, n_workers, FLUSHES)
        with store.read() as conn:
            result["db_bytes"] = int(
                conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
            )
    return result


def steady_1m() -> dict[str, Any]:
    """``make bench``'s step ``pg_flush_1m``: ``flushes`` of 1,000,000 workers, with the load
    of the machine while it ran (benchmarks share it)."""
    result = flushes(1_000_000)
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return result


def worker_page() -> dict[str, Any]:
    """Latency of worker_page on 100k workers of puid 1 (two flushes, so rows were updated)."""
    now = 1_700_000_000
    out: dict[str, Any] = {"workers": PAGE_WORKERS}
    with fresh_database() as url, PostgresStore.open(url) as store:
        for i in range(2):
            flush = make_flush(PAGE_WORKERS, now + i * INTERVAL_S, seq=i + 1, seed=i + 1)
            one = dataclasses.replace(flush.workers, puid=np.ones(PAGE_WORKERS, dtype=np.int64))
            store.write_flush(dataclasses.replace(flush, workers=one))
        with store.write() as conn:  # planner statistics, as autovacuum would gather
            conn.exec_driver_sql("ANALYZE workers")
        cases = {
            "first_page_ms": WorkerQuery(now=now + 20, order_by="accept_15m", limit=50),
            "page_at_50k_ms": WorkerQuery(
                now=now + 20, order_by="accept_15m", offset=50_000, limit=50
            ),
            "first_page_by_worker_id_ms": WorkerQuery(now=now + 20, limit=50),
            "active_first_page_ms": WorkerQuery(
                now=now + 20, order_by="accept_15m", status=WorkerStatus.ACTIVE, limit=50
            ),
        }
        for name, query in cases.items():
            store.worker_page(1, query)  # warm
            times = []
            for _ in range(PAGE_CALLS):
                t0 = time.perf_counter()
                page = store.worker_page(1, query)
                times.append((time.perf_counter() - t0) * 1000)
            assert page.total_count == PAGE_WORKERS and len(page.rows) == 50
            out[name] = round(statistics.median(times), 1)
    return out


def run(sizes: tuple[int, ...] = (100_000,)) -> dict[str, Any]:
    return {"flush": [flushes(n) for n in sizes], "worker_page": worker_page()}


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or (100_000,)
    print(json.dumps(run(sizes), indent=1))
