"""Read API latency on a large store: ``GET /v1/worker`` and ``GET /v1/worker/stats``.

The store holds 1,000,000 workers: 100,000 under one sub-account (the one queried) and
1,000 under each of 900 others. They are written with ``SqliteStore.write_flush`` from
synthetic flushes built straight from numpy columns, as the engine would hand them over:
per-worker hashrates from a log-normal, vardiff share difficulty, nested Poisson share
counts over 1m/5m/15m/1h/1d, 0.5-3 % rejects, and last share times that make most workers
ACTIVE and some INACTIVE or DEAD.

A real ``poolstats serve`` process answers; the load generator runs in a second process
(spawned) and drives an open loop: request ``i`` is due at ``start + i / rate`` whatever
the answers, and goes out on the first free one of a few keep-alive HTTP/1.1 connections
(asyncio + httpx); its latency is counted from the time it was due, so a slow answer delays
the requests queued behind it in the figures too (no coordinated omission). Every answer is
checked: HTTP 200 and ``err_no == 0``. ``/healthz`` under the same load gives the floor of
the HTTP stack and of the Python generator itself; where ``wrk`` is installed, it also
measures each URL closed loop on one connection (the server's own time, no Python client).

``python -m bench.api [--rate 200] [--seconds 30] [--warmup 3] [--data-dir DIR]`` runs
only this benchmark and prints a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.server import serving
from poolstats.domain.workers import worker_id
from poolstats.engine.snapshot import Flush, PoolRow, SubaccountRows, WindowSums, WorkerRows
from poolstats.store.sqlite import SqliteStore

BIG_WORKERS = 100_000
SMALL_SUBACCOUNTS = 900
SMALL_WORKERS = 1_000
CHUNK = 100_000  # workers per write_flush: the big sub-account, then 100 small ones
ACTIVE_S, INACTIVE_S = 900, 86_400
WINDOWS_S = (60, 300, 900, 3600, 86_400)
KEY_FILE = "bench-api.json"  # the big sub-account's puid and key, kept with a reused data dir
GRACE_S = 10.0  # how long requests still queued after the last one was due may take
UNFINISHED = "unfinished"
QUERIES = {  # /healthz first: no store access, the floor of the HTTP stack and the generator
    "healthz": "/healthz",
    "worker_list": "/v1/worker?access_key={key}&puid={puid}&page_size=50&order_by=shares_15m",
    "worker_stats": "/v1/worker/stats?access_key={key}&puid={puid}",
}


# --- the store -------------------------------------------------------------------------------


def _window_sums(columns: dict[str, np.ndarray]) -> WindowSums:
    return WindowSums(**{k: np.asarray(v, np.float64) for k, v in columns.items()})


def _workers(
    rng: np.random.Generator, puid: np.ndarray, local: np.ndarray, ids: np.ndarray, now: int
) -> tuple[WorkerRows, np.ndarray]:
    """Synthetic worker rows and their status (0 ACTIVE, 1 INACTIVE, 2 DEAD)."""
    n = len(puid)
    # Hashrate as share difficulty per second: log-normal around ~100 TH/s (23,000 diff/s).
    rate = rng.lognormal(np.log(1e14 / 2**32), 1.0, n)
    diff = 2.0 ** np.maximum(0, np.round(np.log2(rate * 10)))  # vardiff: a share per ~10 s
    # Seconds since the last accepted share, and how long the worker mined before that.
    u = rng.random(n)
    status = np.where(u < 0.85, 0, np.where(u < 0.95, 1, 2))
    age = np.select(
        [status == 0, status == 1],
        [np.minimum(rng.exponential(15, n), ACTIVE_S - 1),
         rng.uniform(ACTIVE_S, INACTIVE_S, n)],
        rng.uniform(INACTIVE_S, 30 * INACTIVE_S, n),
    )  # fmt: skip
    mined = np.where(
        status == 0, rng.uniform(3600, 30 * 86_400, n), rng.uniform(600, 3 * 86_400, n)
    )
    reject_p = rng.uniform(0.005, 0.03, n)
    sums: dict[str, np.ndarray] = {}
    shares = rejects = stales = np.zeros(n)
    covered_before = np.zeros(n)
    for window in WINDOWS_S:  # nested windows: each adds the shares of its older part
        covered = np.clip(np.minimum(window, age + mined) - age, 0, None)
        expected = rate * (covered - covered_before) / diff
        shares = shares + rng.poisson(expected)
        rejects = rejects + rng.poisson(expected * reject_p)
        stales = stales + rng.poisson(expected * 0.002)
        covered_before = covered
        label = {60: "1m", 300: "5m", 900: "15m", 3600: "1h", 86_400: "1d"}[window]
        sums[f"accept_{label}"] = shares * diff
        if window <= 900:
            sums[f"reject_{label}"] = rejects * diff
            sums[f"stale_{label}"] = stales * diff
    accept_count = (shares + rng.poisson(rate * mined / diff)).astype(np.int64)
    reject_count = (rejects + stales + rng.poisson(rate * mined / diff * reject_p)).astype(np.int64)
    last_accept = (now - age).astype(np.int64)
    last_share = np.minimum(now, last_accept + rng.integers(0, 3, n))
    ips = [f"203.0.{i // 256}.{i % 256}" for i in range(2048)]
    rows = WorkerRows(
        puid=puid,
        worker_id=ids[local],
        worker_name=[f"rig{i:06d}" for i in local.tolist()],
        sums=_window_sums(sums),
        accept_count=accept_count,
        reject_count=reject_count,
        last_share_time=last_share,
        last_accept_time=last_accept,
        last_share_ip=[ips[i] for i in rng.integers(0, len(ips), n).tolist()],
    )
    return rows, status


def _empty_subaccounts() -> SubaccountRows:
    none = np.zeros(0, np.int64)
    return SubaccountRows(
        puid=none,
        sums=_window_sums({c: np.zeros(0) for c in WindowSums.__dataclass_fields__}),
        workers_active=none,
        last_share_time=none,
    )


def populate(data_dir: Path, now: int, scale: float = 1.0, seed: int = 7) -> dict[str, Any]:
    """Create the sub-accounts and write 1,000,000 workers (times ``scale``); returns the big
    sub-account's puid and key too."""
    n_big, n_small = round(BIG_WORKERS * scale), max(1, round(SMALL_SUBACCOUNTS * scale))
    rng = np.random.default_rng(seed)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with SqliteStore.open(data_dir) as store:
        big = store.create_user("bigfarm", now)
        small = [store.create_user(f"farm{i:04d}", now).puid for i in range(n_small)]
        timings["users_s"] = time.perf_counter() - started
        ids = np.array(
            [worker_id(f"rig{i:06d}") for i in range(max(n_big, SMALL_WORKERS))], np.int64
        )
        # Worker i of the store: its sub-account and its index within it.
        puid = np.concatenate(
            [np.full(n_big, big.puid), np.repeat(np.array(small), SMALL_WORKERS)]
        ).astype(np.int64)
        local = np.concatenate([np.arange(n_big), np.tile(np.arange(SMALL_WORKERS), n_small)])
        puids = np.array([big.puid, *small], np.int64)
        slot = np.searchsorted(puids, puid)  # puids are created in increasing order
        sub_sums = {c: np.zeros(len(puids)) for c in WindowSums.__dataclass_fields__}
        sub_active = np.zeros(len(puids), np.int64)
        sub_last = np.zeros(len(puids), np.int64)
        big_status = np.zeros(3, np.int64)
        pool = PoolRow(
            sums=_window_sums({c: np.zeros(1) for c in sub_sums}), workers_active=0, users_active=0
        )
        write_s = 0.0
        for lo in range(0, len(puid), CHUNK):
            part = slice(lo, lo + CHUNK)
            rows, status = _workers(rng, puid[part], local[part], ids, now)
            s = slot[part]
            for c in sub_sums:
                sub_sums[c] += np.bincount(s, getattr(rows.sums, c), len(puids))
            sub_active += np.bincount(s, status == 0, len(puids)).astype(np.int64)
            np.maximum.at(sub_last, s, rows.last_share_time)
            big_status += np.bincount(status[rows.puid == big.puid], minlength=3)
            flush = Flush(now=now, seq=0, workers=rows, subaccounts=_empty_subaccounts(), pool=pool)
            t = time.perf_counter()
            store.write_flush(flush)
            write_s += time.perf_counter() - t
        totals = {c: v.sum(keepdims=True) for c, v in sub_sums.items()}
        subaccounts = SubaccountRows(
            puid=puids,
            sums=_window_sums(sub_sums),
            workers_active=sub_active,
            last_share_time=sub_last,
        )
        pool = PoolRow(
            sums=_window_sums(totals),
            workers_active=int(sub_active.sum()),
            users_active=int((sub_active > 0).sum()),
        )
        nobody = WorkerRows(
            puid=np.zeros(0, np.int64), worker_id=np.zeros(0, np.int64), worker_name=[],
            sums=_empty_subaccounts().sums, accept_count=np.zeros(0, np.int64),
            reject_count=np.zeros(0, np.int64), last_share_time=np.zeros(0, np.int64),
            last_accept_time=np.zeros(0, np.int64), last_share_ip=[],
        )  # fmt: skip
        store.write_flush(Flush(now=now, seq=0, workers=nobody, subaccounts=subaccounts, pool=pool))
    total_s = time.perf_counter() - started
    db = data_dir / "poolstats.sqlite3"
    return {
        "puid": big.puid,
        "access_key": big.access_key,
        "stats": {
            "workers": len(puid),
            "subaccounts": len(puids),
            "queried_subaccount_workers": n_big,
            "queried_subaccount_status": dict(
                zip(("active", "inactive", "dead"), big_status.tolist(), strict=True)
            ),
            "populate_s": round(total_s, 1),
            "populate_users_s": round(timings["users_s"], 1),
            "populate_write_flush_s": round(write_s, 1),
            "db_mib": round(sum(p.stat().st_size for p in data_dir.glob(db.name + "*")) / 2**20),
        },
    }


def _prepared(data_dir: Path, scale: float) -> dict[str, Any]:
    """Populate ``data_dir`` unless an earlier run did (its key is kept in ``KEY_FILE``)."""
    keep = data_dir / KEY_FILE
    if keep.exists():
        saved: dict[str, Any] = json.loads(keep.read_text())
        saved["stats"]["reused_data_dir"] = True
        return saved
    data_dir.mkdir(parents=True, exist_ok=True)
    made = populate(data_dir, int(time.time()), scale)
    keep.write_text(json.dumps(made))
    return made


# --- the load generator (runs in its own process) --------------------------------------------


def _failure(answer: httpx.Response) -> str | None:
    """Why an answer is not a success: HTTP 200 and ``err_no`` 0 (``status`` ok for /healthz)."""
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    body = answer.json()
    if not isinstance(body, dict):
        return "not a JSON object"
    if "err_no" not in body and body.get("status") == "ok":  # /healthz
        return None
    return (
        None if body.get("err_no") == 0 else f"err_no {body.get('err_no')}: {body.get('err_msg')}"
    )


async def _one(
    client: httpx.AsyncClient, url: str, due: float
) -> tuple[float, float, float, str | None]:
    loop = asyncio.get_running_loop()
    sent = loop.time()
    error: str | None = None
    try:
        error = _failure(await client.get(url))
    except Exception as exc:  # a refused connection, a broken answer: this request failed
        error = f"{type(exc).__name__}: {exc}"
    return due, sent, loop.time(), error


async def _open_loop(
    url: str, rate: float, seconds: float, warmup: float, connections: int
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    loop = asyncio.get_running_loop()
    n_warm, n = round(warmup * rate), round((warmup + seconds) * rate)
    start = loop.time() + 0.05
    due_times = [start + i / rate for i in range(n)]
    # Requests wait for a free connection in our own queue (wrk2's model), not in httpx's pool,
    # whose waiting list costs O(queued) per request and would slow the generator itself down
    # exactly when the server falls behind. Their latency still counts from the due time.
    queue: asyncio.Queue[int] = asyncio.Queue()
    done: dict[int, tuple[float, float, float, str | None]] = {}

    async def connection(client: httpx.AsyncClient) -> None:
        while True:
            i = await queue.get()
            done[i] = await _one(client, url, due_times[i])

    async with httpx.AsyncClient(limits=limits, timeout=None) as client:
        senders = [asyncio.create_task(connection(client)) for _ in range(connections)]
        for i, due in enumerate(due_times):
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(i)
        # A server slower than the rate builds a queue: what is left after GRACE_S is given up
        # and counted with the latency it had reached (a lower bound), so the run stays short.
        grace_end = loop.time() + GRACE_S
        while len(done) < n and loop.time() < grace_end:
            await asyncio.sleep(0.01)
        given_up = loop.time()
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
    # (due, sent, answered, failure); an unanswered request counts as waiting until given up.
    measured = [
        done.get(i, (due, given_up, given_up, UNFINISHED))
        for i, due in enumerate(due_times)
        if i >= n_warm
    ]
    dues, sent, end = (np.array([r[i] for r in measured]) for i in range(3))
    failures = [r[3] for r in measured if r[3] not in (None, UNFINISHED)]
    finished = np.array([r[3] != UNFINISHED for r in measured])
    latency_ms, service_ms, lag_ms = (end - dues) * 1e3, (end - sent) * 1e3, (sent - dues) * 1e3
    window_start = start + n_warm / rate

    def pct(values: np.ndarray, q: float) -> float:
        return round(float(np.percentile(values, q)), 2)

    achieved = 0.0
    if finished.any():  # answers of the measured requests per second, until the last one
        achieved = int(finished.sum()) / (float(end[finished].max()) - window_start)
    return {
        "target_rps": rate,
        "achieved_rps": round(achieved, 1),
        "requests": len(measured),
        "errors": len(failures),
        "unfinished": len(measured) - int(finished.sum()),  # given up GRACE_S after the last due
        "error_samples": sorted(set(failures))[:5],
        "p50_ms": pct(latency_ms, 50),
        "p90_ms": pct(latency_ms, 90),
        "p99_ms": pct(latency_ms, 99),
        "max_ms": round(float(latency_ms.max()), 2),
        "service_p99_ms": pct(service_ms[finished], 99) if finished.any() else None,
        "wait_p99_ms": pct(lag_ms, 99),  # due -> sent: a free connection, the generator
    }


def load(url: str, rate: float, seconds: float, warmup: float, connections: int) -> dict[str, Any]:
    """Open-loop constant-rate GETs of ``url``; latency percentiles from the due time."""
    return asyncio.run(_open_loop(url, rate, seconds, warmup, connections))


def _sample(url: str) -> dict[str, Any]:
    """One answer, checked, with its size (what the figures are about)."""
    answer = httpx.get(url, timeout=30)
    if (failure := _failure(answer)) is not None:
        raise RuntimeError(f"{url.split('?')[0]}: {failure}")
    data = answer.json().get("data")
    sample: dict[str, Any] = {"bytes": len(answer.content)}
    if isinstance(data, dict) and "total_count" in data:
        sample.update(total_count=data["total_count"], items=len(data["data"]))
    return sample


def _wrk(url: str, seconds: float) -> dict[str, Any] | None:
    """wrk, when installed: closed loop on one connection from a C client, so the server's own
    time per request and its sequential throughput without Python on the client side. wrk
    does not read the answers (``err_no`` is unchecked there) and cannot hold a rate."""
    exe = shutil.which("wrk")
    if exe is None:
        return None
    command = [exe, "-t1", "-c1", f"-d{seconds:g}s", "--latency", url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    unit_ms = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    figures: dict[str, Any] = {"connections": 1, "seconds": seconds}
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("50%", "90%", "99%"):
            value = re.fullmatch(r"([0-9.]+)(us|ms|s)", words[1])
            if value:
                ms = float(value[1]) * unit_ms[value[2]]
                figures[f"p{words[0][:-1]}_ms"] = round(ms, 2)
        elif line.startswith("Requests/sec:"):
            figures["rps"] = round(float(words[1]), 1)
        elif line.strip().startswith("Non-2xx"):
            figures["non_2xx"] = int(words[-1])
    return figures


# --- the benchmark ---------------------------------------------------------------------------


def run(
    rate: float = 200.0,
    seconds: float = 30.0,
    warmup: float = 3.0,
    connections: int = 8,
    data_dir: Path | None = None,
    scale: float = 1.0,
    only: tuple[str, ...] = tuple(QUERIES),
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = data_dir or Path(tmp)
        made = _prepared(folder, scale)
        results: dict[str, Any] = {
            "date": datetime.date.today().isoformat(),
            **made["stats"],
            "rate_rps": rate,
            "seconds": seconds,
            "warmup_s": warmup,
            "connections": connections,
            "grace_s": GRACE_S,
        }
        print(json.dumps({"populated": made["stats"]}), file=sys.stderr, flush=True)
        spawn = multiprocessing.get_context("spawn")
        with (
            serving(folder) as base,
            concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as generator,
        ):
            for name in only:
                query = QUERIES[name]
                url = base + query.format(key=made["access_key"], puid=made["puid"])
                sample = _sample(url)
                figures = generator.submit(load, url, rate, seconds, warmup, connections).result()
                results[name] = {"path": query.split("?")[0], **sample, **figures}
                if (wrk := _wrk(url, 10)) is not None:
                    results[name]["wrk"] = wrk
                print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured duration")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="populate this folder and keep it; a later run reuses it as it is (its workers "
        "then age: ACTIVE ones turn INACTIVE after 15 minutes)",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the 1,000,000 workers (quick checks)"
    )
    parser.add_argument(
        "--only", action="append", choices=list(QUERIES), help="this URL only (repeatable)"
    )
    a = parser.parse_args()
    only = tuple(a.only or QUERIES)
    results = run(a.rate, a.seconds, a.warmup, a.connections, a.data_dir, a.scale, only)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
