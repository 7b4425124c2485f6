"""Append throughput of the ingest journal with fsync: how long a 2xx waits on durability.

``run()`` writes into a temporary directory (on the same filesystem as ``parent`` when given,
since the disk is what is being measured) and removes it afterwards. MB are 10**6 bytes.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from poolstats.ingest.journal import Journal

MiB = 2**20


def _latency_summary(latencies: list[float], total_bytes: int, elapsed: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "appends": len(latencies),
        "seconds": round(elapsed, 4),
        "appends_per_s": round(len(latencies) / elapsed, 1),
        "mb_per_s": round(total_bytes / elapsed / 1e6, 1),
        "latency_ms_p50": round(statistics.median(ordered) * 1e3, 2),
        "latency_ms_p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1e3, 2),
        "latency_ms_max": round(ordered[-1] * 1e3, 2),
    }


def _sequential(directory: Path, payload: bytes, count: int) -> dict[str, Any]:
    """One writer, one append at a time: the latency a single big batch sees."""
    latencies = []
    with Journal(directory) as j:
        start = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            j.append(1, payload)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
    result = _latency_summary(latencies, len(payload) * count, elapsed)
    result["payload_bytes"] = len(payload)
    return result


def _concurrent(directory: Path, payload: bytes, threads: int, per_thread: int) -> dict[str, Any]:
    """Several writers at once: group commit lets one fdatasync cover many appends."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def writer(j: Journal) -> None:
        mine = []
        barrier.wait()
        for _ in range(per_thread):
            t0 = time.perf_counter()
            j.append(1, payload)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    with Journal(directory) as j:
        pool = [threading.Thread(target=writer, args=(j,)) for _ in range(threads)]
        for th in pool:
            th.start()
        barrier.wait()
        start = time.perf_counter()
        for th in pool:
            th.join()
        elapsed = time.perf_counter() - start
        syncs = j._syncs
    result = _latency_summary(latencies, len(payload) * threads * per_thread, elapsed)
    result.update(payload_bytes=len(payload), threads=threads, fdatasyncs=syncs)
    return result


def run(parent: Path | None = None) -> dict[str, Any]:
    """Measure fsync'd appends of 1 MiB and 45 MiB payloads (plus 8-thread group commit)."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="poolstats-journal-bench-", dir=parent) as tmp:
        root = Path(tmp)
        results["1MiB"] = _sequential(root / "one", os.urandom(MiB), 64)
        results["45MiB"] = _sequential(root / "big", os.urandom(45 * MiB), 10)
        results["1MiB_8threads"] = _concurrent(root / "conc", os.urandom(MiB), 8, 16)
        results["4KiB_8threads"] = _concurrent(root / "small", os.urandom(4096), 8, 250)
    return results
