"""A share acknowledged by POST /ingest/shares survives kill -9 of the server, counted once.

A real server process is fed batches from a thread; it is killed with SIGKILL while batches
are in flight, started again, and every acknowledged batch must be in the store exactly
once. Each batch has its own worker, so the store tells which batches were counted and how
many times.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.nodes import INGEST_HEADERS, Node, shares, stored, stored_counts, wait_for

pytestmark = pytest.mark.slow
SHARES_PER_BATCH = 500
DIFF = 1024.0


def batch(i: int) -> bytes:
    """Batch ``i``: its own worker, ``batch<i>``, so the store tells which batches it has."""
    return shares(f"batch{i}", SHARES_PER_BATCH, time.time() - 1, diff=DIFF)


def history_total(data_dir: Path) -> float:
    ((total,),) = stored(
        data_dir, "SELECT coalesce(sum(accept), 0) FROM history_subaccount WHERE period_s = 86400"
    )
    return float(total)


def test_acknowledged_shares_survive_kill_9_exactly_once(data_dir: Path) -> None:
    server = Node(data_dir, until_healthy=True)
    acknowledged: list[int] = []
    sent: list[int] = []
    stop = threading.Event()

    def feed() -> None:
        with httpx.Client(timeout=10) as client:
            i = 0
            while not stop.is_set():
                sent.append(i)
                try:
                    answer = client.post(
                        server.url + "/ingest/shares", content=batch(i), headers=INGEST_HEADERS
                    )
                except httpx.TransportError:
                    return  # the server died under us: this batch was never acknowledged
                if answer.status_code == 200 and answer.json()["accepted"] == SHARES_PER_BATCH:
                    acknowledged.append(i)
                i += 1

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        wait_for(lambda: len(acknowledged) >= 20, 60, "20 acknowledged batches")
        server.kill()
    finally:
        stop.set()
        feeder.join(30)

    restarted = Node(data_dir, until_healthy=True)
    expected = {f"batch{i}": SHARES_PER_BATCH for i in acknowledged}
    in_flight = {f"batch{i}" for i in sent if i not in acknowledged}

    def all_there() -> bool:
        return all(stored_counts(data_dir).get(name) == n for name, n in expected.items())

    wait_for(all_there, 30, "every acknowledged batch in the store")
    restarted.stop()
    final = stored_counts(data_dir)
    for name, n in final.items():  # unacknowledged batches: counted fully once, or not at all
        assert n == SHARES_PER_BATCH, (name, n)
        assert name in expected or name in in_flight
    assert history_total(data_dir) == len(final) * SHARES_PER_BATCH * DIFF

    again = Node(data_dir, until_healthy=True)  # a clean restart changes nothing
    again.stop()
    assert stored_counts(data_dir) == final
    assert history_total(data_dir) == len(final) * SHARES_PER_BATCH * DIFF


def test_server_binds_to_loopback_by_default(data_dir: Path) -> None:
    with Node(data_dir, until_healthy=True) as server:
        out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        lines = [line for line in out.splitlines() if f"pid={server.process.pid}," in line]
        if not lines:
            pytest.skip("ss shows no process details here")
        assert all("127.0.0.1:" in line for line in lines), lines


if os.name != "posix":  # pragma: no cover
    pytest.skip("needs POSIX signals", allow_module_level=True)
