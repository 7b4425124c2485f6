"""A miner written in the tests mines real shares over TCP; the engine counts them and the
API shows the hashrate they imply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from poolstats.ingest.pipeline import Format
from poolstats.stratum.jobs import StaticTemplate
from poolstats.stratum.server import ShareSink, StratumConfig, StratumServer
from poolstats.stratum.session import Limits
from tests.api.conftest import Node
from tests.nodes import free_port, until
from tests.stratum.miner import Miner

DIFF = Fraction(1, 2**16)  # about 65,536 hashes a share: a few shares a second in Python
SHARES = 12


def server_for(
    node: Node, config: StratumConfig | None = None, clock: Callable[[], float] | None = None
) -> StratumServer:
    config = config or StratumConfig(limits=Limits(DIFF, Fraction(2**32), DIFF))
    sink = ShareSink(lambda body: node.service.ingestor.ingest(body, Format.NDJSON), config)
    template = StaticTemplate(height=900_000, payout_script=b"\x51")
    return StratumServer(
        template, node.service.registry.puid_of, sink, config, clock or node.clock.now,
        metrics=node.service.metrics,
    )  # fmt: skip


def test_mined_shares_reach_the_engine_and_the_api(node: Node) -> None:
    stratum = server_for(node)
    port = free_port()

    async def scenario() -> tuple[list[bool], dict[str, object], dict[str, object]]:
        sink = asyncio.create_task(stratum.sink.run())
        server = await stratum.serve("127.0.0.1", port)
        miner = await Miner.connect(port)
        await miner.start("alice.rig1")
        assert miner.difficulty == float(DIFF) and miner.job is not None
        verdicts, nonce = [], 0
        for _ in range(SHARES):
            params, nonce = miner.find(extranonce2=7, start_nonce=nonce)
            reply = await miner.call("mining.submit", ["alice.rig1", *params])
            verdicts.append(reply["result"] is True and reply["error"] is None)
            nonce += 1
        duplicate = await miner.call("mining.submit", ["alice.rig1", *params])
        stale = await miner.call("mining.submit", ["alice.rig1", "ffff", *params[1:]])
        await miner.close()
        server.close()
        await server.wait_closed()
        sink.cancel()
        return verdicts, duplicate, stale

    verdicts, duplicate, stale = asyncio.run(scenario())
    assert verdicts == [True] * SHARES
    assert duplicate["error"] == [22, "duplicate share", None]
    assert stale["error"] == [21, "job not found", None]
    workers = node.stored_workers(node.puid["alice"])
    rig = workers["rig1"]
    assert (rig["accept_count"], rig["reject_count"]) == (SHARES, 2)
    assert rig["accept_15m"] == SHARES * DIFF  # 2**-16 is exact in a float
    # 12 shares of 2**-16 (2**16 hashes each) in the last minute: 12 * 2**16 / 60 H/s =
    # 13.11 KH/s over 1m, and 12 * 2**16 / 900 = 873.8 H/s over 15m, shown in one unit
    stats = node.data("/v1/worker/stats")
    unit = {"": 1.0, "K": 1e3, "M": 1e6}[stats["shares_unit"]]
    for window, seconds in (("shares_1m", 60), ("shares_15m", 900)):
        expected = SHARES * 2**16 / seconds
        assert abs(float(stats[window]) * unit - expected) / expected < 1e-3  # 4 digits shown
    assert stats["workers_active"] == 1
    sample = node.service.metrics.registry.get_sample_value
    submits = {r: sample("poolstats_stratum_submits_total", {"result": r})
               for r in ("accepted", "duplicate", "stale")}  # fmt: skip
    assert submits == {"accepted": SHARES, "duplicate": 1, "stale": 1}
    assert sample("poolstats_stratum_submit_seconds_count") == SHARES + 2


def test_a_miner_resuming_after_a_difficulty_change_has_its_earlier_share_counted(
    node: Node,
) -> None:
    """Subscribe, job 1 at 2**-16, ``mining.suggest_difficulty 0.5``, the connection drops,
    the miner resumes its session: the server announces the work at 0.5 under another id
    than 1, and the share of job 1 found before the drop counts, at 2**-16."""
    stratum = server_for(node)
    port = free_port()

    async def scenario() -> tuple[list[Any], list[Any], float, dict[str, Any]]:
        sink = asyncio.create_task(stratum.sink.run())
        server = await stratum.serve("127.0.0.1", port)
        miner = await Miner.connect(port)
        await miner.start("alice.rig1")
        first = list(miner.job or [])
        session_id = miner.extranonce1.hex()
        share, _ = miner.find(extranonce2=1)
        assert (await miner.call("mining.suggest_difficulty", [0.5]))["result"] is True
        await miner.close()  # before the share is sent: the link dropped
        await until(lambda: not stratum.sessions, 10, "the closed session to be parked")
        again = await Miner.connect(port)
        subscribed = await again.call("mining.subscribe", ["cpuminer/2.5.1", session_id])
        assert subscribed["result"][1] == session_id
        resumed = await again.next_job()
        assert (await again.call("mining.authorize", ["alice.rig1", "x"]))["result"] is True
        reply = await again.call("mining.submit", ["alice.rig1", *share])
        await again.close()
        server.close()
        await server.wait_closed()
        sink.cancel()
        return first, resumed, again.difficulty, reply

    first, resumed, difficulty, reply = asyncio.run(scenario())
    assert first[0] == "1" and resumed[0] != "1" and difficulty == 0.5
    assert reply == {"id": 3, "result": True, "error": None}
    rig = node.stored_workers(node.puid["alice"])["rig1"]
    assert (rig["accept_count"], rig["reject_count"]) == (1, 0)
    assert rig["accept_15m"] == DIFF  # credited at its own job's difficulty
