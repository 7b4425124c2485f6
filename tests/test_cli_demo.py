"""``poolstats demo`` as a new user meets it: a taken port, Ctrl-C, yesterday's earnings."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from poolstats.cli.demo import DEMO_NETWORK
from poolstats.domain.earnings import subsidy_sat
from tests.nodes import create_user, free_port, poolstats, stored, tree, wait_for

pytestmark = pytest.mark.slow
DAY = 86_400


def demo(tmp: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """A demo process whose temporary folders go under ``tmp`` (TMPDIR)."""
    return subprocess.Popen(
        poolstats("demo", "--users", "1", "--workers", "3", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp), **env},
    )


def demo_folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("poolstats-demo-*"))


def printed_key(process: subprocess.Popen[str]) -> str:
    """The demo key from the JSON line the demo prints once it is about to serve."""
    assert process.stdout is not None
    line = next(line for line in process.stdout if line.startswith("{"))
    key: str = json.loads(line)["access_key"]
    return key


def serving(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("via", ["ingest", "stratum"])
def test_a_taken_port_stops_the_demo_before_it_prints_a_key(
    tmp_path: Path, taken_port: int, via: str
) -> None:
    ports = (
        ["--port", str(taken_port)]
        if via == "ingest"
        else ["--port", str(free_port()), "--stratum-port", str(taken_port)]
    )
    process = demo(tmp_path, "--via", via, *ports)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert out == ""  # no key, no URL, no table
    (line,) = err.strip().splitlines()
    assert f"port {taken_port} on 127.0.0.1" in line and "Traceback" not in err
    hint = "PORT=" if via == "ingest" else "STRATUM_PORT="
    flag = "--port" if via == "ingest" else "--stratum-port"
    suggested = int(line.split(hint, 1)[1].split()[0])  # a port that was free then
    assert suggested != taken_port and f"{flag} {suggested}" in line
    assert demo_folders(tmp_path) == []  # nothing made


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_demo_removes_its_temporary_folder(tmp_path: Path, stop: signal.Signals) -> None:
    port = free_port()
    process = demo(tmp_path, "--port", str(port), "--backfill-hours", "0.2")
    try:
        printed_key(process)
        (folder,) = demo_folders(tmp_path)
        assert (folder / "poolstats.sqlite3").is_file()
        wait_for(lambda: serving(port), 60, "the demo server")
        process.send_signal(stop)
        process.wait(60)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait(30)
    assert demo_folders(tmp_path) == []


def test_a_demo_keeps_a_data_dir_it_was_given(tmp_path: Path) -> None:
    data = tmp_path / "mine"
    process = demo(tmp_path, "--port", str(free_port()), "--data-dir", str(data),
                   "--backfill-hours", "0.2")  # fmt: skip
    try:
        printed_key(process)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    assert (data / "poolstats.sqlite3").is_file()


def test_yesterdays_earnings_are_settled_from_the_backfill(tmp_path: Path) -> None:
    """25 hours of backfill always reach into yesterday. What each sub-account's accepted
    shares of yesterday earn is worked out here from the store's daily history buckets (the
    share stream's difficulty sums, not the ledger's work table) at the demo's network values,
    PPS at the default 2 % fee, rounded down once."""
    data = tmp_path / "data"
    port = free_port()
    # settle_after_s 0: the test does not depend on the time of day it runs at
    process = demo(tmp_path, "--port", str(port), "--data-dir", str(data),
                   "--backfill-hours", "25", POOLSTATS_SETTLE_AFTER_S="0")  # fmt: skip
    try:
        key = printed_key(process)
        yesterday = (int(time.time()) // DAY - 1) * DAY

        def rows(sql: str) -> list[tuple[int, float]]:
            return [(int(a), b) for a, b in stored(data, sql, yesterday)]

        earnings = "SELECT puid, amount_sat FROM earnings WHERE day = ?"
        wait_for(lambda: len(rows(earnings)) == 2, 60, "yesterday settled")
        worked = dict(rows("SELECT puid, accept FROM history_subaccount "
                           "WHERE period_s = 86400 AND start = ?"))  # fmt: skip
        difficulty, height, _ = DEMO_NETWORK
        per_diff = Fraction(subsidy_sat(height)) / Fraction(difficulty) * (1 - Fraction("0.02"))
        expected = {puid: math.floor(Fraction(diff) * per_diff) for puid, diff in worked.items()}
        assert set(expected) == {1, 2} and all(v > 0 for v in expected.values())
        assert dict(rows(earnings)) == expected
        # and what earn-stats (and the dashboard, its client: tests/web) shows as yesterday's
        stats = httpx.get(
            f"http://127.0.0.1:{port}/v1/account/earn-stats",
            params={"access_key": key},
            timeout=5,
        ).json()
        assert int(stats["data"]["earnings_yesterday"]) == expected[1]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def test_a_demo_on_a_data_dir_whose_database_was_emptied_is_refused(tmp_path: Path) -> None:
    """The folder's id file says it had a database: the demo does not make a new one in the
    emptied file (the data folder's checks, as a node's start), and changes nothing."""
    data = tmp_path / "mine"
    create_user(data)
    os.truncate(data / "poolstats.sqlite3", 0)
    before = tree(data)
    process = demo(tmp_path, "--port", str(free_port()), "--data-dir", str(data),
                   "--backfill-hours", "0")  # fmt: skip
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait(30)
    assert process.returncode != 0
    assert "access_key" not in out
    assert "poolstats.sqlite3 is empty (0 bytes)" in " ".join(err.split())
    assert tree(data) == before
