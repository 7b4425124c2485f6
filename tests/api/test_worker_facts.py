"""``first_share_time`` and ``miner_agent`` in ``/v1/worker`` items and ``/v1/worker/{id}``:
from producers' events (NDJSON ``agent``) and from a real stratum connection's
``mining.subscribe``."""

from __future__ import annotations

import asyncio
from typing import Any

from poolstats.domain.workers import worker_id
from tests.api.conftest import T0, Node
from tests.nodes import free_port
from tests.stratum.miner import Miner
from tests.stratum.test_server import server_for

NOW = int(T0)


def share(worker: str, ts: float, **more: Any) -> dict[str, Any]:
    return {"ts": ts, "puid": 1, "worker": worker, "diff": 65536, "accepted": True, **more}


def listed(node: Node) -> dict[str, tuple[int, str]]:
    items = node.data("/v1/worker/")["data"]
    return {i["worker_name"]: (i["first_share_time"], i["miner_agent"]) for i in items}


def detail(node: Node, name: str) -> tuple[int, str]:
    d = node.data(f"/v1/worker/{worker_id(name)}")
    return d["first_share_time"], d["miner_agent"]


def test_events_give_the_first_share_time_and_the_agent(node: Node) -> None:
    node.ingest(
        share("rig1", NOW - 40.5, agent="cgminer/4.10.0"),
        share("rig1", NOW - 70, status="reject"),  # earliest of rig1: any status counts
        share("rig2", NOW - 5),  # names no agent
    )
    node.service.flush()
    want = {"rig1": (NOW - 70, "cgminer/4.10.0"), "rig2": (NOW - 5, "")}
    assert listed(node) == want
    assert {name: detail(node, name) for name in want} == want

    # later shares: the first share time stays, a new agent replaces the old one
    node.clock.advance(30)
    node.ingest(share("rig1", NOW + 20, agent="bmminer/2.0.0"), share("rig2", NOW + 20))
    node.service.flush()
    want = {"rig1": (NOW - 70, "bmminer/2.0.0"), "rig2": (NOW - 5, "")}
    assert listed(node) == want
    assert {name: detail(node, name) for name in want} == want


def test_an_agent_too_long_is_refused_naming_the_field(node: Node) -> None:
    answer = node.ingest(share("rig1", NOW - 1, agent="x" * 257))
    assert answer["accepted"] == 0
    assert answer["errors"][0]["error"].startswith("agent:")


def test_a_stratum_miners_subscribe_names_its_agent(node: Node) -> None:
    stratum = server_for(node)
    port = free_port()
    agent = "cgminer/4.10.0-facts"

    async def scenario() -> list[bool]:
        sink = asyncio.create_task(stratum.sink.run())
        server = await stratum.serve("127.0.0.1", port)
        miner = await Miner.connect(port)
        subscribed = await miner.call("mining.subscribe", [agent])
        _, en1, miner.extranonce2_size = subscribed["result"]
        miner.extranonce1 = bytes.fromhex(en1)
        assert (await miner.call("mining.authorize", ["alice.rig9", "x"]))["result"] is True
        verdicts, nonce = [], 0
        for _ in range(3):
            params, nonce = miner.find(extranonce2=1, start_nonce=nonce)
            reply = await miner.call("mining.submit", ["alice.rig9", *params])
            verdicts.append(reply["result"] is True)
            nonce += 1
        await miner.close()
        server.close()
        await server.wait_closed()
        sink.cancel()
        return verdicts

    assert asyncio.run(scenario()) == [True] * 3
    node.service.flush()
    # the server's clock stands still at T0: every share, the first too, came at T0
    assert listed(node) == {"rig9": (NOW, agent)}
    assert detail(node, "rig9") == (NOW, agent)
