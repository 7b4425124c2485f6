"""Engine aggregation speed on decoded batches (one core).

Two figures: ``Engine.apply`` on batches already resolved to rows, and the full step from
decoded columns (worker-table resolution, difficulty rounding, IP codes, then apply), which
is what every ingest request pays after decoding.
"""

from __future__ import annotations

import time

import numpy as np

from poolstats.domain.share import ShareColumns, quantize_diff
from poolstats.engine.engine import Engine, ShareBatch
from poolstats.ingest.pipeline import Ingestor, resolve_owners

T0 = 1_790_000_000.0


class _AllExist:
    def puid_of(self, name: str) -> int | None:
        return None

    def exists(self, puid: int) -> bool:
        return True


def _columns(rng: np.random.Generator, n: int, workers: int, t: float) -> ShareColumns:
    """A 1-second batch of n shares from random workers of a fleet (100 per sub-account)."""
    idx = rng.integers(0, workers, n)
    used, inverse = np.unique(idx, return_inverse=True)
    return ShareColumns(
        line=np.arange(1, n + 1),
        ts=np.sort(t + rng.random(n)),
        diff=np.full(n, 65536.0),
        status=(rng.random(n) < 0.02).astype(np.uint8),
        worker_idx=inverse.astype(np.int64),
        ip_idx=np.zeros(n, np.int64),
        ips=["203.0.113.7"],
        w_puid=(used // 100 + 1).astype(np.int64),
        w_user=[None] * len(used),
        w_name=[f"rig{i}" for i in used.tolist()],
    )


def run(workers: int = 1_000_000, batch: int = 500_000, batches: int = 8) -> dict[str, float]:
    rng = np.random.default_rng(7)
    engine = Engine()
    ingestor = Ingestor(engine, journal=None, subaccounts=_AllExist(), clock=time.time)  # type: ignore[arg-type]
    # warm up: every worker once, so the figures are for a steady pool, not for first sight
    started = time.perf_counter()
    all_rows = engine.worker_rows(
        ((np.arange(workers) // 100) + 1).tolist(), [f"rig{i}" for i in range(workers)]
    )
    first_sight_s = time.perf_counter() - started
    cols = [_columns(rng, batch, workers, T0 + i) for i in range(batches)]
    resolved = []
    for i in range(batches):
        idx = rng.integers(0, workers, batch)
        resolved.append(
            ShareBatch(
                rows=all_rows[idx],
                ts=np.sort(T0 + 100 + i + rng.random(batch)),
                diff=quantize_diff(np.full(batch, 65536.0)),
                status=(rng.random(batch) < 0.02).astype(np.uint8),
                ip=np.zeros(batch, np.int64),
            )
        )
    # Warm up with every batch once (the arrays touched, the allocator settled on the
    # batch's temporaries, as in a node that has been running), then time them again.
    for b in resolved:
        engine.apply(b, T0 + 100)
    started = time.perf_counter()
    for b in resolved:
        engine.apply(b, T0 + 100 + batches)
    apply_rate = batch * batches / (time.perf_counter() - started)
    started = time.perf_counter()
    for i, c in enumerate(cols):
        owners = resolve_owners(c, ingestor.subaccounts, engine)
        ingestor.apply(c, owners, T0 + 200 + i, seq=0, history=True)
    columns_rate = batch * batches / (time.perf_counter() - started)
    started = time.perf_counter()
    flush = engine.drain(T0 + 210)
    drain_s = time.perf_counter() - started
    return {
        "workers": workers,
        "batch_shares": batch,
        "apply_shares_per_s": round(apply_rate),
        "columns_to_engine_shares_per_s": round(columns_rate),
        "first_sight_of_workers_per_s": round(workers / first_sight_s),
        "drain_s": round(drain_s, 3),
        "drained_workers": len(flush.workers.puid),
    }
