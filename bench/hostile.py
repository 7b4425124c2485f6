"""Held-open connections against a real node: does it keep answering?

About 20,000 connections that send nothing, or half a request line or half their headers,
used to exhaust a node's file limit, after which ``/healthz`` and ingest failed until they
went. Here a holder process (``tests/http_holder.py``, the same one the tests use) opens
``HELD`` of them from 127.0.0.2 onwards, ``PER_ADDRESS`` from each address, and holds them;
meanwhile a prober in this process sends ``/healthz`` and a one-share ``POST
/ingest/shares`` open loop from 127.0.0.1, each on a new connection (a flood of held
connections hurts new connections first), one request every ``1 / RATE_PER_S`` s whatever
the answers, latency counted from the request's due time. The node runs with its default
limits (``http_header_timeout_s``, the per-client cap, a total cap from its file limit), so
the figures are what an operator gets. ``python -m bench --only hostile`` runs this alone.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

from bench.process import machine_cpu_s, raise_nofile, wait_quiet
from bench.server import serving
from poolstats.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
HELD = 19_000  # what the holder's file limit here (20,000) allows, with room for itself
PER_ADDRESS = 76  # from 250 addresses: past the per-client cap (64) and, in all, the total cap
RATE_PER_S = 40.0  # probes a second, /healthz and ingest taking turns
SECONDS = 20.0  # the holder opens for about 4 s, then holds until the node closes them
LIMIT_MS = 100.0


def _batch() -> bytes:
    event = {"ts": time.time() - 1, "puid": 1, "worker": "probe", "diff": 1.0, "accepted": True}
    return msgspec.json.encode(event) + b"\n"


Probes = dict[str, list[tuple[float, float | None]]]


async def _probe(url: str, seconds: float) -> Probes:
    """Open-loop probes for ``seconds``: (due, from the start in s; latency in ms, None when
    it failed) of each."""
    out: Probes = {"healthz": [], "ingest": []}
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection every request

    async def one(kind: str, due: float, client: httpx.AsyncClient) -> None:
        try:
            if kind == "healthz":
                response = await client.get(url + "/healthz")
                ok = response.status_code == 200
            else:
                response = await client.post(
                    url + "/ingest/shares",
                    content=_batch(),
                    headers={"Authorization": f"Bearer {TOKEN}",
                             "Content-Type": "application/x-ndjson"},
                )  # fmt: skip
                ok = response.status_code == 200 and response.json()["accepted"] == 1
        except httpx.HTTPError:
            ok = False
        out[kind].append((due - start, (time.perf_counter() - due) * 1000 if ok else None))

    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        start = time.perf_counter()
        tasks = []
        for i in range(int(seconds * RATE_PER_S)):
            due = start + i / RATE_PER_S
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            kind = "healthz" if i % 2 == 0 else "ingest"
            tasks.append(asyncio.create_task(one(kind, due, client)))
        await asyncio.gather(*tasks)
    return out


def _figures(probes: list[tuple[float, float | None]]) -> dict[str, Any]:
    latencies = [ms for _, ms in probes]
    answered = np.array([x for x in latencies if x is not None])
    slow = [due for due, ms in probes if ms is None or ms > LIMIT_MS]
    return {
        "requests": len(latencies),
        "failed": len(latencies) - len(answered),
        "p50_ms": round(float(np.percentile(answered, 50)), 2) if len(answered) else None,
        "p99_ms": round(float(np.percentile(answered, 99)), 2) if len(answered) else None,
        "max_ms": round(float(answered.max()), 2) if len(answered) else None,
        "within_limit": int((answered <= LIMIT_MS).sum()),
        "over_limit_due_s": [round(min(slow), 1), round(max(slow), 1)] if slow else [],
    }


def _closed(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line.startswith("poolstats_http_connections_closed_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = float(line.rsplit(" ", 1)[1])
    return out


def run() -> dict[str, Any]:
    raise_nofile(HELD + 1024)  # the node inherits it: the same limit an operator's has
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        with SqliteStore.open(data) as store:
            store.create_user("bench", int(time.time()))
        with serving(data, "--ingest-token", TOKEN) as url:
            port = url.rsplit(":", 1)[1]
            quiet = wait_quiet(30)
            before = asyncio.run(_probe(url, 3.0))  # the same probes on a quiet node
            holder = subprocess.Popen(
                [sys.executable, "-m", "tests.http_holder", port, str(HELD // PER_ADDRESS),
                 str(PER_ADDRESS), str(SECONDS + 15)],
                stdout=subprocess.PIPE, text=True, cwd=ROOT,
            )  # fmt: skip
            cpu = machine_cpu_s()
            during = asyncio.run(_probe(url, SECONDS))
            cpu = machine_cpu_s() - cpu
            out, _ = holder.communicate(timeout=120)
            report = json.loads(out.splitlines()[-1])
            closed = _closed(url)
    return {
        "held_connections": report["opened"],
        "per_address": PER_ADDRESS,
        "closed_by_node": len(report["closed"]),
        "last_closed_s": round(report["closed"][-1], 2) if report["closed"] else None,
        "closed_by_reason": closed,
        "probe_rate_per_s": RATE_PER_S,
        "seconds": SECONDS,
        "quiet_before": quiet,
        "machine_cpu_s_during": round(cpu, 1),
        "quiet_node": {k: _figures(v) for k, v in before.items()},
        "healthz": _figures(during["healthz"]),
        "ingest": _figures(during["ingest"]),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
