"""HTTP ingest end to end: acknowledged (journaled with fsync) and aggregated, per second.

The server runs as its own process (``poolstats serve``); this process is the load
generator, posting prebuilt bodies over several connections for a fixed time. Also
measures how long a share takes to be visible in the store (one flush interval at most).
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

from bench.server import serving
from poolstats.ingest.columnar import CONTENT_TYPE, encode_table
from poolstats.store.sqlite import SqliteStore

SUBACCOUNTS = 1000
WORKERS = 100_000


def _bodies(kind: str, shares: int, count: int, now: float) -> list[bytes]:
    rng = np.random.default_rng(3)
    bodies = []
    for _ in range(count):
        worker = rng.integers(0, WORKERS, shares)
        ts = np.sort(now - 1 + rng.random(shares))
        status = (rng.random(shares) < 0.02).astype(np.uint8)
        if kind == "ndjson":
            lines = [
                msgspec.json.encode({"ts": round(float(t), 3), "puid": int(w) % SUBACCOUNTS + 1,
                                     "worker": f"rig{int(w):06d}", "diff": 65536,
                                     "accepted": not s, "ip": "203.0.113.7"})
                for t, w, s in zip(ts.tolist(), worker.tolist(), status.tolist(), strict=True)
            ]  # fmt: skip
            bodies.append(b"\n".join(lines) + b"\n")
        else:
            used, idx = np.unique(worker, return_inverse=True)
            bodies.append(encode_table(
                ts, np.full(shares, 65536.0), status, idx,
                [f"rig{int(w):06d}" for w in used], worker_puid=used % SUBACCOUNTS + 1,
                ip_idx=np.zeros(shares, np.int32), ip=["203.0.113.7"],
            ))  # fmt: skip
    return bodies


def _load(url: str, kind: str, bodies: list[bytes], shares: int, seconds: float,
          connections: int) -> dict[str, float]:  # fmt: skip
    content_type = CONTENT_TYPE if kind == "columnar" else "application/x-ndjson"
    headers = {"Authorization": "Bearer bench", "Content-Type": content_type}
    deadline = time.monotonic() + seconds
    latencies: list[float] = []

    def worker(k: int) -> int:
        accepted = 0
        with httpx.Client(timeout=120) as client:
            i = k
            while time.monotonic() < deadline:
                started = time.monotonic()
                answer = client.post(url + "/ingest/shares", content=bodies[i % len(bodies)],
                                     headers=headers)  # fmt: skip
                latencies.append(time.monotonic() - started)
                answer.raise_for_status()
                accepted += answer.json()["accepted"]
                i += connections
        return accepted

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        accepted = sum(pool.map(worker, range(connections)))
    elapsed = time.monotonic() - started
    return {
        "shares_per_s": round(accepted / elapsed),
        "requests": len(latencies),
        "shares_per_request": shares,
        "bytes_per_request": len(bodies[0]),
        "p50_request_s": round(float(np.percentile(latencies, 50)), 3),
        "p99_request_s": round(float(np.percentile(latencies, 99)), 3),
    }


def _visible_after(url: str, data_dir: Path) -> float:
    """Seconds from a share's 2xx to its worker row in the store."""
    body = msgspec.json.encode({"ts": time.time(), "puid": 1, "worker": "probe", "diff": 1,
                                "accepted": True}) + b"\n"  # fmt: skip
    headers = {"Authorization": "Bearer bench", "Content-Type": "application/x-ndjson"}
    httpx.post(url + "/ingest/shares", content=body, headers=headers).raise_for_status()
    acked = time.monotonic()
    with sqlite3.connect(data_dir / "poolstats.sqlite3") as db:
        while time.monotonic() - acked < 60:
            if db.execute("SELECT 1 FROM workers WHERE worker_name = 'probe'").fetchone():
                return round(time.monotonic() - acked, 2)
            time.sleep(0.05)
    raise RuntimeError("share not visible after 60 s")


def run(seconds: float = 15.0, flush_interval: float = 10.0) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        with SqliteStore.open(data_dir) as store:
            for i in range(SUBACCOUNTS):
                store.create_user(f"bench{i:04d}", int(time.time()))
        with serving(
            data_dir, "--ingest-token", "bench", "--flush-interval", str(flush_interval)
        ) as url:
            now = time.time()
            ndjson = _bodies("ndjson", 100_000, 4, now)
            results["ndjson"] = _load(url, "ndjson", ndjson, 100_000, seconds, 2)
            del ndjson
            columnar = _bodies("columnar", 500_000, 4, time.time())
            results["columnar"] = _load(url, "columnar", columnar, 500_000, seconds, 2)
            results["share_to_store_s"] = _visible_after(url, data_dir)
            results["flush_interval_s"] = flush_interval
    return results
