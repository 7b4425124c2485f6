"""``poolstats serve --stratum-port`` and ``poolstats stratum``: a CPU miner at difficulty
0.0001 gets its shares accepted within seconds and the node stores them; bad settings stop
the start, naming the setting."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.nodes import TOKEN, Node, free_port, poolstats, run, stored_counts, wait_for
from tests.stratum.miner import Miner


@contextlib.contextmanager
def running(*args: str, log: Path, ready: str) -> Iterator[subprocess.Popen[bytes]]:
    """A poolstats command in a child process, until the ``ready`` line is in its log."""
    with open(log, "ab") as out:
        child = subprocess.Popen(poolstats(*args), stdout=out, stderr=out)
    try:

        def started() -> bool:
            assert child.poll() is None, f"{args[0]} exited: {log.read_text()}"
            return ready in log.read_text()

        wait_for(started, 30, f"{args[0]} to start")
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(30)


def mine_two_shares(port: int, login: str) -> tuple[float, list[bool]]:
    async def mine() -> tuple[float, list[bool]]:
        miner = await Miner.connect(port)
        await miner.start(login)
        verdicts = []
        for en2 in (1, 2):
            params, _ = miner.find(extranonce2=en2)  # about 430,000 hashes each at 0.0001
            reply = await miner.call("mining.submit", [login, *params])
            verdicts.append(reply["result"] is True)
        await miner.close()
        return miner.difficulty, verdicts

    return asyncio.run(mine())


def connectable(port: int) -> bool:
    with contextlib.suppress(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    return False


def test_serve_with_a_stratum_port_takes_a_cpu_miners_shares(data_dir: Path) -> None:
    stratum_port = free_port()
    stratum = ("--stratum-port", str(stratum_port), "--stratum-jobs", "static",
               "--stratum-min-diff", "0.0001")  # fmt: skip
    with Node(data_dir, *stratum):
        wait_for(lambda: connectable(stratum_port), 30, "the stratum port to listen")
        assert mine_two_shares(stratum_port, "alice.cpu1") == (0.0001, [True, True])
        wait_for(lambda: stored_counts(data_dir).get("cpu1") == 2, 30, "2 shares in the store")


def test_a_separate_stratum_process_posts_its_shares_to_the_node(data_dir: Path) -> None:
    stratum_port, metrics_port = free_port(), free_port()
    with Node(data_dir) as node, running(
        "stratum", "--stratum-port", str(stratum_port), "--stratum-min-diff", "0.0001",
        "--ingest-url", f"{node.url}/ingest/shares", "--ingest-token", TOKEN,
        "--data-dir", str(data_dir.parent / "stratum"), "--metrics-port", str(metrics_port),
        log=data_dir.parent / "stratum.log", ready=f"127.0.0.1:{stratum_port} ->",
    ):  # fmt: skip
        wait_for(lambda: connectable(stratum_port), 30, "the stratum port to listen")
        assert mine_two_shares(stratum_port, "alice.cpu2") == (0.0001, [True, True])
        wait_for(lambda: stored_counts(data_dir).get("cpu2") == 2, 30, "2 shares in the store")
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    assert 'poolstats_stratum_submits_total{result="accepted"} 2.0' in scraped
    assert 'poolstats_stratum_post_seconds_count{verdict="counted"} 2.0' in scraped
    assert "poolstats_stratum_spool_batches 0.0" in scraped
    said = (data_dir.parent / "stratum.log").read_text()
    assert f"metrics: http://127.0.0.1:{metrics_port}/metrics" in said


def test_a_wrong_stratum_setting_stops_serve_naming_it(tmp_path: Path) -> None:
    out = run(
        "serve", "--data-dir", str(tmp_path), "--port", str(free_port()),
        "--stratum-port", str(free_port()), "--stratum-min-diff", "8", "--stratum-max-diff", "4",
    )  # fmt: skip
    assert out.returncode == 1
    assert "stratum_min_diff (POOLSTATS_STRATUM_MIN_DIFF): must be > 0 and <= " in out.stderr
    out = run(
        "serve", "--data-dir", str(tmp_path), "--port", str(free_port()),
        "--stratum-port", str(free_port()), "--stratum-jobs", "getwork",
    )  # fmt: skip
    assert out.returncode == 1 and "stratum_jobs" in out.stderr and "'getwork'" in out.stderr
    out = run("stratum", "--stratum-port", str(free_port()), "--ingest-token", TOKEN)
    assert out.returncode == 1 and "stratum_ingest_url" in out.stderr
