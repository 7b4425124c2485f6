"""Jobs from a node's getblocktemplate, and found blocks sent back with submitblock.

The node is ``FakeBitcoind`` (a real JSON-RPC server on loopback that checks every submitted
block with hashlib); the pool is the real ``StratumServer.run`` over TCP with the test miner,
shares go into a real node's ingest, and blocks into its store, metrics and API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from fractions import Fraction
from typing import Any

import httpx
import pytest

from poolstats.config import Settings
from poolstats.domain.found_block import BlockStatus, FoundBlock
from poolstats.ingest.pipeline import Format
from poolstats.network.bitcoind import RpcClient
from poolstats.store.blocks import BlockStore
from poolstats.stratum.server import ShareSink, StratumConfig, StratumServer
from poolstats.stratum.session import Limits
from poolstats.stratum.template import RpcTemplate, rpc_template, store_recorder
from tests.api.conftest import ALICE, T0, Node
from tests.nodes import free_port, until
from tests.stratum.fake_bitcoind import (
    PASSWORD,
    USER,
    FakeBitcoind,
    Reader,
    bip34_height,
    sha256d,
)
from tests.stratum.miner import Miner

# BIP 173's P2WPKH test vector and its published scriptPubKey.
ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
POOL_SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
HEIGHT = 300
# 50 BTC (height 300 is before the first halving) plus the three transactions' fees.
REWARD = 5_000_000_000 + 1_000 + 2_000 + 2_500
DIFF = Fraction(1, 2**20)  # every share is a block at regtest's bits: ~4,096 hashes each
LIMITS = Limits(DIFF, Fraction(2**32), DIFF)


@pytest.fixture
def bitcoind() -> Any:
    fake = FakeBitcoind(POOL_SCRIPT, HEIGHT, int(T0))
    yield fake
    fake.close()


def settings_for(fake: FakeBitcoind, **more: Any) -> Settings:
    return Settings(
        bitcoind_url=fake.url,
        bitcoind_user=USER,
        bitcoind_password=PASSWORD,
        stratum_payout_address=ADDRESS,
        **more,
    )


def recorded(node: Node) -> list[FoundBlock]:
    return BlockStore(node.service.store).page(0, 100)[1]


@contextlib.asynccontextmanager
async def pool(node: Node, fake: FakeBitcoind, poll_s: float = 60.0) -> AsyncIterator[Miner]:
    """The stratum server on the fake node's templates (``poll_s`` long: new blocks arrive
    by long poll), with a miner connected to it."""
    async with httpx.AsyncClient() as client:
        record = store_recorder(node.service.store, node.clock, node.service.metrics)
        source = rpc_template(
            settings_for(fake, stratum_template_poll_s=poll_s), client, record, retry_s=0.01
        )
        config = StratumConfig(limits=LIMITS)  # run() loads the first template
        sink = ShareSink(lambda body: node.service.ingestor.ingest(body, Format.NDJSON), config)
        stratum = StratumServer(source, node.service.registry.puid_of, sink, config, node.clock.now)
        port = free_port()
        running = asyncio.create_task(stratum.run("127.0.0.1", port))
        deadline = time.monotonic() + 10
        while True:
            try:
                miner = await Miner.connect(port)
                break
            except OSError:
                assert time.monotonic() < deadline, "the stratum server never listened"
                await asyncio.sleep(0.01)
        try:
            yield miner
        finally:
            await miner.close()
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running


async def start(miner: Miner, login: str) -> None:
    """Subscribe and authorize; forget the notifications so far (the first job's)."""
    await miner.start(login)
    miner.notes.clear()


async def clean_job(miner: Miner) -> list[Any]:
    """The parameters of the first ``mining.notify`` starting a new block that the miner has
    not looked at: one that came before a reply, else the next to arrive."""
    while miner.notes:
        message = miner.notes.pop(0)
        if message.get("method") == "mining.notify" and message["params"][-1] is True:
            return list(message["params"])
    while True:
        line = await asyncio.wait_for(miner.reader.readline(), 10)
        message = json.loads(line)
        if message.get("method") == "mining.notify" and message["params"][-1] is True:
            miner.job = message["params"]
            return list(message["params"])


def stratum_prevhash(block_hash: bytes) -> str:
    """A hash in internal order as stratum's prevhash: each 4-byte word byte-swapped."""
    return b"".join(block_hash[i : i + 4][::-1] for i in range(0, 32, 4)).hex()


def test_a_found_block_reaches_the_node_is_recorded_and_listed(
    node: Node, bitcoind: FakeBitcoind
) -> None:
    async def scenario() -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
        async with pool(node, bitcoind) as miner:
            await start(miner, "alice.rig1")
            params, _ = miner.find(extranonce2=1)
            reply = await miner.call("mining.submit", ["alice.rig1", *params])
            await until(
                lambda: [b.status for b in recorded(node)] == [BlockStatus.ACCEPTED],
                10,
                "the node's verdict recorded",
            )
            job = await clean_job(miner)  # the node's new tip, by long poll
            stale = await miner.call("mining.submit", ["alice.rig1", *params])
            return reply, job, stale

    reply, job, stale = asyncio.run(scenario())
    assert reply == {"id": 3, "result": True, "error": None}
    assert bitcoind.problems == []
    (block,) = bitcoind.blocks
    block_hash = sha256d(block[:80])
    assert recorded(node) == [
        FoundBlock(HEIGHT, block_hash[::-1].hex(), ALICE, "rig1", REWARD, int(T0),
                   BlockStatus.ACCEPTED, "")
    ]  # fmt: skip
    assert node.data("/v1/pool/blocks", user="") == {
        "page": 1,
        "page_size": 10,
        "page_count": 1,
        "total_count": 1,
        "list": [
            {"height": HEIGHT, "hash": block_hash[::-1].hex(), "reward": REWARD,
             "found_at": int(T0), "status": "accepted", "reason": ""}
        ],
    }  # fmt: skip
    assert node.counter("poolstats_blocks_total", status="submitted") == 1
    assert node.counter("poolstats_blocks_total", status="accepted") == 1
    assert node.stored_workers(ALICE)["rig1"]["accept_count"] == 1  # the share counted too
    # the next block: on ours, at the next height, with an empty mempool (no branch)
    _, prevhash, coinb1, _, branch, *_ = job
    assert prevhash == stratum_prevhash(block_hash)
    assert bip34_height(HEIGHT + 1).hex() in coinb1 and branch == []
    assert stale["error"] == [21, "job not found", None]


def test_a_block_found_on_retargeted_work_is_a_valid_block_with_that_works_coinbase(
    node: Node, bitcoind: FakeBitcoind
) -> None:
    """A new difficulty comes with the work under a new id and a coinbase of its own (its
    input's sequence); a block found on it is assembled from that coinbase."""

    async def scenario() -> tuple[list[Any], list[Any], dict[str, Any]]:
        async with pool(node, bitcoind) as miner:
            await start(miner, "alice.rig1")
            first = list(miner.job or [])
            assert (await miner.call("mining.suggest_difficulty", [2**-19]))["result"] is True
            retargeted = await miner.next_job()
            assert miner.difficulty == 2**-19
            params, _ = miner.find(extranonce2=1)
            reply = await miner.call("mining.submit", ["alice.rig1", *params])
            await until(lambda: bitcoind.blocks, 10, "the block at the node")
            return first, retargeted, reply

    first, retargeted, reply = asyncio.run(scenario())
    assert reply["result"] is True and bitcoind.problems == []
    assert retargeted[0] != first[0]
    assert retargeted[1:3] + retargeted[4:] == first[1:3] + first[4:]
    sequence, rest = bytes.fromhex(retargeted[3])[:4], bytes.fromhex(retargeted[3])[4:]
    assert bytes.fromhex(first[3]) == b"\xff\xff\xff\xff" + rest != bytes.fromhex(retargeted[3])
    (block,) = bitcoind.blocks
    r = Reader(block)
    r.take(80)
    r.varint()
    coinbase, _ = r.tx()
    assert coinbase.inputs[0][3] == int.from_bytes(sequence, "little")
    assert node.stored_workers(ALICE)["rig1"]["accept_15m"] == 2**-19


def test_a_long_poll_with_a_new_tip_sends_a_clean_job_and_old_jobs_go_stale(
    node: Node, bitcoind: FakeBitcoind
) -> None:
    other_pools_block = sha256d(b"a block found elsewhere")

    async def scenario() -> tuple[list[Any], list[Any], list[str], dict[str, Any], bool]:
        async with pool(node, bitcoind) as miner:
            await start(miner, "alice.rig1")
            first = list(miner.job or [])
            old, _ = miner.find(extranonce2=1)
            await until(lambda: bitcoind.long_polls_waiting, 10, "the long poll to be asked")
            await asyncio.to_thread(bitcoind.new_tip, other_pools_block, 1)  # it took 1 tx
            # Two transactions left: the branch is the first one's txid, then the second
            # one's hashed with itself (a level of three leaves pairs its last with itself).
            t2, t3 = (tx.txid() for tx, _ in bitcoind.mempool)
            branch = [t2.hex(), sha256d(t3 + t3).hex()]
            job = await clean_job(miner)
            stale = await miner.call("mining.submit", ["alice.rig1", *old])
            new, _ = miner.find(extranonce2=2)
            mined = await miner.call("mining.submit", ["alice.rig1", *new])
            await until(lambda: len(bitcoind.blocks) == 1, 10, "the block on the new tip")
            return first, job, branch, stale, mined["result"] is True

    first, job, branch, stale, mined = asyncio.run(scenario())
    assert bitcoind.long_polls_answered >= 1
    assert bitcoind.plain_templates == 1  # the load; then long polls (the 60 s poll never ran)
    assert job[1] == stratum_prevhash(other_pools_block) != first[1]
    assert job[4] == branch
    assert stale["error"] == [21, "job not found", None]
    assert mined and bitcoind.problems == []  # a block with the two transactions left


def test_a_rejected_block_is_recorded_with_the_nodes_reason(
    node: Node, bitcoind: FakeBitcoind, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bitcoind.reject_with = "bad-txns-inputs-missingorspent"

    async def scenario() -> None:
        async with pool(node, bitcoind) as miner:
            await start(miner, "alice.rig2")
            params, _ = miner.find(extranonce2=5)
            assert (await miner.call("mining.submit", ["alice.rig2", *params]))["result"] is True
            await until(
                lambda: [b.status for b in recorded(node)] == [BlockStatus.REJECTED],
                10,
                "the rejection recorded",
            )

    asyncio.run(scenario())
    (sent,) = bitcoind.submitted
    assert bitcoind.problems == [] and bitcoind.blocks == []
    (block,) = recorded(node)
    assert (block.hash, block.worker, block.reason) == (
        sha256d(sent[:80])[::-1].hex(),
        "rig2",
        "bad-txns-inputs-missingorspent",
    )
    listed = node.data("/v1/pool/blocks", user="")["list"]
    assert [(b["status"], b["reason"]) for b in listed] == [
        ("rejected", "bad-txns-inputs-missingorspent")
    ]
    assert node.counter("poolstats_blocks_total", status="rejected") == 1
    assert sent.hex() in caplog.text  # the block is in the log, to send again by hand


def test_a_dropped_submission_is_retried_and_one_never_answered_stays_submitted(
    node: Node, bitcoind: FakeBitcoind, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bitcoind.drop_submits = 1

    async def scenario() -> None:
        async with pool(node, bitcoind) as miner:
            await start(miner, "alice.rig1")
            params, _ = miner.find(extranonce2=1)
            await miner.call("mining.submit", ["alice.rig1", *params])
            await until(lambda: len(bitcoind.blocks) == 1, 10, "the second try to arrive")
            await until(lambda: recorded(node)[0].status is BlockStatus.ACCEPTED, 10, "accepted")
            await clean_job(miner)
            bitcoind.drop_submits = 100  # the node vanishes for good
            params, _ = miner.find(extranonce2=2)
            await miner.call("mining.submit", ["alice.rig1", *params])
            await until(lambda: _unanswered(caplog), 20, "all four tries to fail")
            # the verdict is logged, then stored: wait for the store too
            await until(lambda: recorded(node)[0].reason, 10, "the verdict stored")

    asyncio.run(scenario())
    newest, first = recorded(node)
    assert first.status is BlockStatus.ACCEPTED and first.reason == ""
    assert newest.status is BlockStatus.SUBMITTED and newest.height == HEIGHT + 1
    assert newest.reason.startswith("not sent: RemoteProtocolError")
    assert "try 1 of 4" in caplog.text and "try 4 of 4" in caplog.text
    assert node.counter("poolstats_blocks_total", status="submitted") == 2
    assert node.counter("poolstats_blocks_total", status="accepted") == 1
    assert PASSWORD not in caplog.text


def _unanswered(caplog: pytest.LogCaptureFixture) -> bool:
    return any("submitted (not sent" in r.getMessage() for r in caplog.records)


def test_the_last_template_is_served_through_rpc_errors_with_a_logged_backoff(
    bitcoind: FakeBitcoind, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="poolstats.stratum.template")
    other_pools_block = sha256d(b"found while the node was warming up")

    def failures() -> list[str]:
        return [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]

    async def scenario() -> tuple[bytes, bytes, bytes, int]:
        async with httpx.AsyncClient() as client:
            rpc = RpcClient(bitcoind.url, USER, PASSWORD, client)
            source = RpcTemplate(rpc, POOL_SCRIPT, b"/t/", poll_s=0.01, retry_s=0.01)
            await source.load()
            before = source.job("1", int(T0)).prevhash
            moved: list[int] = []
            watching = asyncio.create_task(source.watch(lambda: moved.append(1)))
            bitcoind.warming_up = True
            await until(lambda: len(failures()) >= 4, 10, "four failed polls")
            during = source.job("2", int(T0)).prevhash
            await asyncio.to_thread(bitcoind.new_tip, other_pools_block, 0)
            bitcoind.warming_up = False
            await until(lambda: "works again" in caplog.text, 10, "the recovery logged")
            after = source.job("3", int(T0)).prevhash
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            return before, during, after, len(moved)

    before, during, after, moved = asyncio.run(scenario())
    assert during == before  # the last template, all through the outage
    assert after == other_pools_block and moved == 1
    logged = failures()
    assert "failed: RpcError: getblocktemplate: Loading block index… (code -28)" in logged[0]
    assert "serving height 300" in logged[0]
    delays = [m.rsplit("next try in ", 1)[1] for m in logged[:4]]
    assert delays == ["0.01 s", "0.02 s", "0.04 s", "0.08 s"]  # doubling
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bitcoind_url": ""}, "bitcoind_url: stratum_jobs=rpc needs"),
        ({"bitcoind_url": "ftp://127.0.0.1:8332"}, "bitcoind_url: an http:// or https://"),
        ({"stratum_payout_address": ""}, "stratum_payout_address: stratum_jobs=rpc needs"),
        ({"stratum_payout_address": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"},
         "stratum_payout_address: tb1... is a test network address"),
        ({"stratum_payout_address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"},
         "stratum_payout_address: bad base58"),
        ({"stratum_tag": "x" * 76}, "stratum_tag: the pool tag is at most 75 bytes"),
        ({"stratum_template_poll_s": 0.0}, "stratum_template_poll_s: must be more than 0"),
    ],
)  # fmt: skip
def test_rpc_jobs_refuse_missing_or_invalid_settings_by_name(
    changes: dict[str, Any], message: str
) -> None:
    good = Settings(bitcoind_url="http://127.0.0.1:8332", stratum_payout_address=ADDRESS)

    async def build() -> None:
        async with httpx.AsyncClient() as client:
            rpc_template(good, client)  # the good settings pass
            rpc_template(dataclasses.replace(good, **changes), client)

    with pytest.raises(ValueError) as refused:
        asyncio.run(build())
    assert str(refused.value).startswith(message)
