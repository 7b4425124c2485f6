"""The poolstats command as an operator runs it: real processes, a real server."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.test_durability import Server, free_port, wait_for

pytestmark = pytest.mark.slow


def poolstats(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolstats", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def shares_file(path: Path, user: str, worker: str, n: int, diff: float) -> float:
    """Writes n shares (plus one refused line) and returns their difficulty sum."""
    now = time.time()
    lines = [
        msgspec.json.encode(
            {
                "ts": now - 60 + i * 0.01,
                "user": user,
                "worker": worker,
                "diff": diff,
                "accepted": True,
            }
        )
        for i in range(n)
    ]
    body = b"\n".join([*lines, b'{"ts": "yesterday"}']) + b"\n"
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)
    return n * diff


def stored(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "poolstats.sqlite3") as db:
        return db.execute(sql).fetchall()


def test_user_create_prints_the_key_once_and_refuses_a_taken_name(tmp_path: Path) -> None:
    created = json.loads(poolstats("user", "create", "alice", "--data-dir", str(tmp_path)).stdout)
    assert created["puid"] == 1 and created["user_name"] == "alice"
    assert len(created["access_key"]) >= 32
    again = poolstats("user", "create", "alice", "--data-dir", str(tmp_path), check=False)
    assert again.returncode == 1 and "alice" in again.stderr
    bad = poolstats("user", "create", "no spaces", "--data-dir", str(tmp_path), check=False)
    assert bad.returncode == 1
    (key_hash,) = stored(tmp_path, "SELECT key_hash FROM access_keys")[0]
    assert created["access_key"] not in str(key_hash)  # stored hashed


def test_ingest_files_straight_into_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    poolstats("user", "create", "alice", "--data-dir", str(data))
    total = shares_file(tmp_path / "a.ndjson", "alice", "rig1", 300, 512)
    total += shares_file(tmp_path / "b.ndjson.gz", "alice", "rig2", 200, 1024)
    out = poolstats(
        "ingest", str(tmp_path / "a.ndjson"), str(tmp_path / "b.ndjson.gz"), "--data-dir", str(data)
    )
    assert json.loads(out.stdout) == {"accepted": 500, "rejected": 2}
    assert "ts:" in out.stderr  # the refused line is reported with its field
    rows = dict(stored(data, "SELECT worker_name, accept_count FROM workers"))
    assert rows == {"rig1": 300, "rig2": 200}
    (day,) = stored(data, "SELECT sum(accept) FROM history_subaccount WHERE period_s = 86400")
    assert day[0] == total


def test_a_user_created_while_serving_can_send_shares_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    poolstats("user", "create", "alice", "--data-dir", str(data))
    server = Server(data, free_port())
    try:
        poolstats("user", "create", "bob", "--data-dir", str(data))  # the server is running
        total = shares_file(tmp_path / "bob.ndjson", "bob", "rig9", 100, 2048)
        out = poolstats(
            "ingest", str(tmp_path / "bob.ndjson"), "--url", server.url, "--ingest-token", "tok"
        )
        assert json.loads(out.stdout) == {"accepted": 100, "rejected": 1}

        def visible() -> bool:
            got = stored(data, "SELECT accept_15m FROM workers WHERE worker_name = 'rig9'")
            return bool(got) and got[0][0] == total

        wait_for(visible, 30, "bob's shares in the store")
    finally:
        server.stop()


def test_simulate_feeds_a_server_with_its_own_sub_accounts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    poolstats("user", "create", "alice", "--data-dir", str(data))
    server = Server(data, free_port())
    try:
        out = poolstats(
            "simulate",
            "--url",
            server.url,
            "--ingest-token",
            "tok",
            "--users",
            "2",
            "--workers",
            "5",
            "--duration",
            "3",
            "--data-dir",
            str(data),
        )
        totals = json.loads(out.stdout.strip().splitlines()[-1])
        assert totals["accepted"] > 0 and totals["rejected"] == 0

        def counted() -> bool:
            got = stored(
                data,
                "SELECT count(*), sum(accept_count + reject_count) FROM workers "
                "WHERE puid IN (SELECT puid FROM subaccounts "
                "WHERE name LIKE 'sim%')",
            )
            return got[0][1] == totals["accepted"]

        wait_for(counted, 30, "every simulated share in the store")
    finally:
        server.stop()


def test_demo_serves_a_live_fleet_and_prints_the_demo_key(tmp_path: Path) -> None:
    port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "poolstats",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--users",
            "1",
            "--workers",
            "3",
            "--backfill-hours",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        printed = next(line for line in demo.stdout if line.startswith("{"))
        key = json.loads(printed)
        assert key["user_name"] == "demo" and key["puid"] == 1 and key["access_key"]
        names = dict(stored(tmp_path, "SELECT name, puid FROM subaccounts"))
        assert names == {"demo": 1, "sim0001": 2}

        def live() -> bool:  # the fleet's shares reach the store through the HTTP ingest
            got = stored(tmp_path, "SELECT count(DISTINCT puid), sum(accept_count) FROM workers")
            return got[0][0] == 2 and got[0][1] > 0

        wait_for(live, 60, "the demo fleet's workers in the store")
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        assert ">demo</a>" in page and ">sim0001</a>" in page
    finally:
        demo.terminate()
        demo.wait(30)
