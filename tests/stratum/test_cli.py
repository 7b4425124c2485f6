"""``poolstats serve --stratum-port``: a CPU miner at difficulty 0.0001 gets its shares
accepted within seconds, and the node's API counts them; bad settings stop the start."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx

from tests.stratum.miner import Miner
from tests.test_durability import counted, data_dir, free_port, poolstats, wait_for

__all__ = ["data_dir"]  # the fixture: a data folder with sub-account alice (puid 1)


def test_serve_with_a_stratum_port_takes_a_cpu_miners_shares(data_dir: Path) -> None:
    port, stratum_port = free_port(), free_port()
    log = open(data_dir.parent / "serve.log", "ab")  # noqa: SIM115 - the child's stdio
    server = subprocess.Popen(
        poolstats(
            "serve", "--data-dir", str(data_dir), "--port", str(port), "--ingest-token", "t",
            "--flush-interval", "0.2", "--stratum-port", str(stratum_port),
            "--stratum-jobs", "static", "--stratum-min-diff", "0.0001",
        ),
        stdout=log,
        stderr=log,
    )  # fmt: skip
    try:

        def listening() -> bool:
            assert server.poll() is None, f"serve exited with {server.returncode}"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(listening, 30, "the node to answer /healthz")

        async def mine() -> tuple[float, list[bool]]:
            miner = await Miner.connect(stratum_port)
            await miner.start("alice.cpu1")
            verdicts = []
            for en2 in (1, 2):
                params, _ = miner.find(extranonce2=en2)  # about 430,000 hashes each
                reply = await miner.call("mining.submit", ["alice.cpu1", *params])
                verdicts.append(reply["result"] is True)
            await miner.close()
            return miner.difficulty, verdicts

        difficulty, verdicts = asyncio.run(mine())
        assert difficulty == 0.0001 and verdicts == [True, True]
        wait_for(lambda: counted(data_dir).get("cpu1") == 2, 30, "2 shares in the store")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        log.close()


def test_a_wrong_stratum_setting_stops_serve_naming_it(tmp_path: Path) -> None:
    out = subprocess.run(
        poolstats(
            "serve", "--data-dir", str(tmp_path), "--port", str(free_port()),
            "--stratum-port", str(free_port()), "--stratum-min-diff", "8",
            "--stratum-max-diff", "4",
        ),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert "stratum_min_diff (POOLSTATS_STRATUM_MIN_DIFF): must be > 0 and <= " in out.stderr
    out = subprocess.run(
        poolstats("serve", "--data-dir", str(tmp_path), "--port", str(free_port()),
                  "--stratum-port", str(free_port()), "--stratum-jobs", "getwork"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1 and "stratum_jobs" in out.stderr and "'getwork'" in out.stderr
