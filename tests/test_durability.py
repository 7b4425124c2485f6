"""A share acknowledged by POST /ingest/shares survives kill -9 of the server, counted once.

A real server process is fed batches from a thread; it is killed with SIGKILL while batches
are in flight, started again, and every acknowledged batch must be in the store exactly
once. Each batch has its own worker, so the store tells which batches were counted and how
many times.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

pytestmark = pytest.mark.slow
SHARES_PER_BATCH = 500
DIFF = 1024.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def poolstats(*args: str) -> list[str]:
    return [sys.executable, "-m", "poolstats", *args]


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        log = open(data_dir.parent / f"server-{port}.log", "ab")  # noqa: SIM115 - child's stdio
        self.process = subprocess.Popen(
            poolstats(
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--ingest-token",
                "tok",
                "--flush-interval",
                "0.2",
            ),
            stdout=log,
            stderr=log,
        )
        wait_for(self.healthy, 30, "the server to answer /healthz")

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    subprocess.run(poolstats("init", "--data-dir", str(path)), check=True, capture_output=True)
    out = subprocess.run(
        poolstats("user", "create", "alice", "--data-dir", str(path)),
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout)["puid"] == 1
    yield path


def batch(i: int) -> bytes:
    now = time.time()
    return b"".join(
        msgspec.json.encode(
            {"ts": now - 1, "puid": 1, "worker": f"batch{i}", "diff": DIFF, "accepted": True}
        )
        + b"\n"
        for _ in range(SHARES_PER_BATCH)
    )


def counted(data_dir: Path) -> dict[str, int]:
    """worker -> accepted shares, as the store has them."""
    with sqlite3.connect(data_dir / "poolstats.sqlite3") as db:
        return dict(db.execute("SELECT worker_name, accept_count FROM workers WHERE puid = 1"))


def history_total(data_dir: Path) -> float:
    with sqlite3.connect(data_dir / "poolstats.sqlite3") as db:
        (total,) = db.execute(
            "SELECT coalesce(sum(accept), 0) FROM history_subaccount WHERE period_s = 86400"
        ).fetchone()
    return float(total)


def test_acknowledged_shares_survive_kill_9_exactly_once(data_dir: Path) -> None:
    server = Server(data_dir, free_port())
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
                        server.url + "/ingest/shares",
                        content=batch(i),
                        headers={
                            "Authorization": "Bearer tok",
                            "Content-Type": "application/x-ndjson",
                        },
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

    restarted = Server(data_dir, free_port())
    expected = {f"batch{i}": SHARES_PER_BATCH for i in acknowledged}
    in_flight = {f"batch{i}" for i in sent if i not in acknowledged}

    def all_there() -> bool:
        return all(counted(data_dir).get(name) == n for name, n in expected.items())

    wait_for(all_there, 30, "every acknowledged batch in the store")
    restarted.stop()
    final = counted(data_dir)
    for name, n in final.items():  # unacknowledged batches: counted fully once, or not at all
        assert n == SHARES_PER_BATCH, (name, n)
        assert name in expected or name in in_flight
    assert history_total(data_dir) == len(final) * SHARES_PER_BATCH * DIFF

    again = Server(data_dir, free_port())  # a clean restart changes nothing
    again.stop()
    assert counted(data_dir) == final
    assert history_total(data_dir) == len(final) * SHARES_PER_BATCH * DIFF


def test_server_binds_to_loopback_by_default(data_dir: Path) -> None:
    server = Server(data_dir, free_port())
    try:
        out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        lines = [line for line in out.splitlines() if f"pid={server.process.pid}," in line]
        if not lines:
            pytest.skip("ss shows no process details here")
        assert all("127.0.0.1:" in line for line in lines), lines
    finally:
        server.stop()


if os.name != "posix":  # pragma: no cover
    pytest.skip("needs POSIX signals", allow_module_level=True)
