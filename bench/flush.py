"""Benchmark ``SqliteStore.write_flush``: n changed workers plus two history deltas each.

Times a first flush (every row inserted) and a second one 15 s later (every row updated, history
buckets incremented), each on the same fresh store in a temporary directory. ``steady`` times
a node's whole flush (drain and write) of a million workers that all sent shares.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.process import machine_cpu_s, wait_quiet
from poolstats.engine.engine import Engine, ShareBatch
from poolstats.engine.snapshot import (
    Flush,
    HistoryDelta,
    Level,
    PoolRow,
    SubaccountRows,
    WindowSums,
    WorkerRows,
)
from poolstats.store.base import Store
from poolstats.store.schema import WINDOW_COLUMNS
from poolstats.store.sqlite import SqliteStore

WORKERS_PER_SUBACCOUNT = 100
QUIET_WAIT_S = 30  # at most, before each timed flush: other work on the machine shows in it


def _sums(rng: np.random.Generator, n: int) -> WindowSums:
    return WindowSums(**{c: rng.random(n) * 1e6 for c in WINDOW_COLUMNS})


def make_flush(n_workers: int, now: int, seq: int, seed: int = 1) -> Flush:
    """A flush of ``n_workers`` changed workers over ``n/100`` sub-accounts, 1h+1d deltas each."""
    rng = np.random.default_rng(seed)
    ids = np.random.default_rng(0)  # same workers in every flush
    n_sub = max(1, n_workers // WORKERS_PER_SUBACCOUNT)
    puid = (np.arange(n_workers, dtype=np.int64) % n_sub) + 1
    worker_id = ids.integers(1, 2**63 - 1, n_workers, dtype=np.int64)
    names = [f"rig{i:06d}" for i in range(n_workers)]
    times = np.full(n_workers, now - 5, dtype=np.int64)
    workers = WorkerRows(
        puid=puid,
        worker_id=worker_id,
        worker_name=names,
        sums=_sums(rng, n_workers),
        accept_count=rng.integers(0, 10**6, n_workers, dtype=np.int64),
        reject_count=rng.integers(0, 10**3, n_workers, dtype=np.int64),
        last_share_time=times,
        last_accept_time=times,
        last_share_ip=["10.0.0.1"] * n_workers,
    )
    sub_puid = np.arange(1, n_sub + 1, dtype=np.int64)
    subaccounts = SubaccountRows(
        puid=sub_puid,
        sums=_sums(rng, n_sub),
        workers_active=np.full(n_sub, WORKERS_PER_SUBACCOUNT, dtype=np.int64),
        last_share_time=np.full(n_sub, now - 5, dtype=np.int64),
    )
    pool = PoolRow(sums=_sums(rng, 1), workers_active=n_workers, users_active=n_sub)
    history = []
    for period_s in (3600, 86400):
        start = np.full(n_workers, now - now % period_s, dtype=np.int64)
        history.append(
            HistoryDelta(
                Level.WORKER,
                period_s,
                puid,
                worker_id,
                start,
                rng.random(n_workers),
                rng.random(n_workers),
                rng.random(n_workers),
            )
        )
        zeros = np.zeros(n_sub, dtype=np.int64)
        history.append(
            HistoryDelta(
                Level.SUBACCOUNT,
                period_s,
                sub_puid,
                zeros,
                start[:n_sub],
                rng.random(n_sub),
                rng.random(n_sub),
                rng.random(n_sub),
            )
        )
    return Flush(
        now=now, seq=seq, workers=workers, subaccounts=subaccounts, pool=pool, history=history
    )


def run(n_workers: int = 100_000) -> dict[str, float]:
    """Seconds taken by an inserting and an updating ``write_flush`` of ``n_workers``."""
    now = 1_700_000_000
    first = make_flush(n_workers, now, seq=1, seed=1)
    second = make_flush(n_workers, now + 15, seq=2, seed=2)
    with tempfile.TemporaryDirectory() as tmp, SqliteStore.open(Path(tmp)) as store:
        t0 = time.perf_counter()
        store.write_flush(first)
        t1 = time.perf_counter()
        store.write_flush(second)
        t2 = time.perf_counter()
    return {
        "n_workers": n_workers,
        "insert_s": round(t1 - t0, 3),
        "update_s": round(t2 - t1, 3),
    }


if __name__ == "__main__":
    print(run())


def steady(n_workers: int = 1_000_000, flushes: int = 3) -> dict[str, Any]:
    """A node's flush of ``n_workers`` that all sent shares since the last one: an engine
    drained into a fresh store every 10 s. The first flush inserts every row; the next
    ``flushes`` update them all (drain, then ``write_flush``), each timed on its own."""
    with tempfile.TemporaryDirectory() as tmp, SqliteStore.open(Path(tmp)) as store:
        result = steady_flushes(store, n_workers, flushes, QUIET_WAIT_S)
        result["db_bytes"] = store.path.stat().st_size
    return result


def steady_flushes(
    store: Store, n_workers: int, flushes: int, quiet_wait_s: float = 0.0
) -> dict[str, Any]:
    """``steady`` on any store: the first flush and ``flushes`` updating ones, timed, each
    after waiting up to ``quiet_wait_s`` for a quiet machine."""
    engine = Engine()
    t = 1_790_000_000.0  # 8 s into an hour: no bucket closes during the run
    rows = engine.worker_rows(
        [i // WORKERS_PER_SUBACCOUNT + 1 for i in range(n_workers)],
        [f"rig{i:07d}" for i in range(n_workers)],
    )

    def shares(at: float) -> None:
        engine.apply(
            ShareBatch(rows=rows, ts=np.full(n_workers, at), diff=np.full(n_workers, 65536.0),
                       status=np.zeros(n_workers, np.uint8), ip=np.full(n_workers, -1)),
            at,
        )  # fmt: skip

    runs: list[dict[str, float]] = []
    for i in range(flushes + 1):
        now = t + 10 * i
        shares(now - 1)
        quiet = wait_quiet(quiet_wait_s)  # the engine's clock is ``now``: waiting changes nothing
        machine, started, cpu = machine_cpu_s(), time.perf_counter(), time.process_time()
        flush = engine.drain(now)
        drained = time.perf_counter()
        store.write_flush(flush)
        done = time.perf_counter()
        own = time.process_time() - cpu
        runs.append({
            "changed_workers": len(flush.workers.puid),
            "history_rows": sum(len(h.start) for h in flush.history),
            "drain_s": round(drained - started, 3),
            "write_s": round(done - drained, 3),
            "total_s": round(done - started, 3),
            "cpu_s": round(own, 3),
            "busy_before": quiet,  # the machine's busy fraction in the second before
            "others_cpu_s": round(max(0.0, machine_cpu_s() - machine - own), 3),
        })  # fmt: skip
    updates = runs[1:]
    median = sorted(updates, key=lambda r: r["total_s"])[len(updates) // 2]
    return {
        "n_workers": n_workers,
        "insert": runs[0],
        "updates": updates,
        "median_update": median,
    }
