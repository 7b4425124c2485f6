"""A stratum process apart from its node: real miners over TCP, real HTTP to a real node
served by uvicorn, a real spool on disk. Shares are counted by the node exactly as often as
the miners were told they were accepted, whatever happens to the node in between."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from poolstats.config import Settings
from poolstats.ingest.answers import Verdict, judge
from poolstats.stratum.jobs import StaticTemplate
from poolstats.stratum.remote import (
    RemoteIngest,
    RemoteUsers,
    StratumProcess,
    Timing,
    stratum_process,
)
from poolstats.stratum.server import StratumConfig
from poolstats.stratum.session import Limits
from poolstats.stratum.spool import Spool, SpoolFull
from tests.api.conftest import ALICE, MAX_BODY, T0, TOKEN, Node, ndjson
from tests.nodes import NodeServer, free_port, wait_for
from tests.stratum.miner import Miner
from tests.stratum.remote_harness import Proxy, Running

DIFF = Fraction(1, 2**16)  # about 65,536 hashes a share: a few shares a second in Python
SHARES = 8
FAST = Timing(live_s=0.3, first_backoff_s=0.02, max_backoff_s=0.1, request_timeout_s=10)
CONFIG = StratumConfig(limits=Limits(DIFF, Fraction(2**32), DIFF))


def process(node: Node, url: str, spool: Path, timing: Timing = FAST) -> StratumProcess:
    settings = Settings(
        data_dir=spool.parent,
        ingest_token=TOKEN,
        stratum_ingest_url=url,
        stratum_spool_dir=str(spool),
        stratum_port=free_port(),
    )
    template = StaticTemplate(height=900_000, payout_script=b"\x51")
    return stratum_process(settings, template, CONFIG, node.clock.now, timing)


async def authorized(port: int, login: str) -> Miner:
    miner = await Miner.connect(port)
    await miner.start(login)
    assert miner.difficulty == float(DIFF)
    return miner


async def mine(miner: Miner, login: str, shares: int) -> tuple[int, int]:
    """Mine ``shares`` shares and resubmit the last one; (accepted, refused) as the miner was
    told, from its own verdicts."""
    accepted, nonce, params = 0, 0, list[str]()
    for _ in range(shares):
        params, nonce = miner.find(extranonce2=7, start_nonce=nonce)
        reply = await miner.call("mining.submit", [login, *params])
        accepted += reply["result"] is True and reply["error"] is None
        nonce += 1
    duplicate = await miner.call("mining.submit", [login, *params])
    assert duplicate["error"] == [22, "duplicate share", None]
    return accepted, 1


def counted(node: Node, worker: str) -> tuple[int, int]:
    row = node.stored_workers(ALICE).get(worker)
    return (0, 0) if row is None else (row["accept_count"], row["reject_count"])


def spooled_events(spool: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(spool.glob("*.ndjson"))
            for line in path.read_bytes().splitlines() if line]  # fmt: skip


def test_mined_shares_reach_the_node_over_http_and_count_once(node: Node, tmp_path: Path) -> None:
    web = NodeServer(node)
    web.start()
    stratum = Running(process(node, web.ingest_url, tmp_path / "spool")).start()

    async def scenario() -> tuple[int, int]:
        miner = await authorized(stratum.port, "alice.rig1")
        told = await mine(miner, "alice.rig1", SHARES)
        await miner.close()
        return told

    told = asyncio.run(scenario())
    stratum.stop()
    web.stop()
    assert told == (SHARES, 1)
    assert counted(node, "rig1") == told
    assert node.stored_workers(ALICE)["rig1"]["accept_15m"] == SHARES * DIFF  # exact in a float
    assert node.counter("poolstats_shares_accepted_total", format="ndjson") == SHARES + 1
    assert list((tmp_path / "spool").glob("*.ndjson")) == []
    assert stratum.process.ingest.posted == SHARES + 1  # one batch a submit: the miner waits


def test_with_the_node_down_miners_are_answered_and_the_spool_drains_when_it_is_back(
    node: Node, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    web = NodeServer(node)
    web.start()
    stratum = Running(process(node, web.ingest_url, spool)).start()

    async def scenario() -> tuple[int, int]:
        miner = await authorized(stratum.port, "alice.rig1")  # the node knows alice
        web.stop()
        told = await mine(miner, "alice.rig1", SHARES)
        events = spooled_events(spool)  # on disk before the miner heard "accepted"
        assert [e["status"] for e in events] == ["accept"] * told[0] + ["reject"] * told[1]
        assert counted(node, "rig1") == (0, 0)
        web.start()
        wait_for(lambda: counted(node, "rig1") == told, 30, "the node to count the spool")
        wait_for(lambda: not list(spool.glob("*.ndjson")), 10, "the spool to empty")
        await miner.close()
        return told

    told = asyncio.run(scenario())
    stratum.stop()
    web.stop()
    assert told == (SHARES, 1)
    assert counted(node, "rig1") == told
    assert node.counter("poolstats_shares_accepted_total", format="ndjson") == SHARES + 1
    ingest = stratum.process.ingest
    assert ingest.spooled == ingest.drained == SHARES + 1


def test_a_batch_whose_answer_was_lost_is_sent_again_under_its_key_and_counted_once(
    node: Node, tmp_path: Path
) -> None:
    web = NodeServer(node)
    web.start()
    proxy = Proxy(web.url, script=["lose", "503"])
    timing = dataclasses.replace(FAST, live_s=5.0)  # room for both retries before the spool
    stratum = Running(process(node, proxy.url + "/ingest/shares", tmp_path / "spool", timing))
    stratum.start()

    async def scenario() -> tuple[int, int]:
        miner = await authorized(stratum.port, "alice.rig1")
        told = await mine(miner, "alice.rig1", SHARES)
        await miner.close()
        return told

    told = asyncio.run(scenario())
    stratum.stop()
    first, unavailable, again, *_ = proxy.posts()
    proxy.close()
    web.stop()
    assert first.key == unavailable.key == again.key
    assert (first.status, first.lost, first.replayed) == (200, True, False)  # journaled
    assert (unavailable.status, again.status, again.replayed) == (0, 200, True)
    assert told == (SHARES, 1)
    assert counted(node, "rig1") == told  # the first share once, not twice
    assert stratum.process.ingest.spooled == 0


def test_a_lost_answer_then_a_spooled_retry_still_counts_once(node: Node, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    web = NodeServer(node)
    web.start()
    # 8 refusals outlast the live attempts (0.3 s: at most 3 of them), so the batch is spooled
    # with the key of the lost attempt and the drain sends it
    proxy = Proxy(web.url, script=["lose"] + ["503"] * 8)
    stratum = Running(process(node, proxy.url + "/ingest/shares", spool)).start()

    async def scenario() -> tuple[int, int]:
        miner = await authorized(stratum.port, "alice.rig1")
        told = await mine(miner, "alice.rig1", SHARES)
        wait_for(lambda: counted(node, "rig1") == told, 30, "the node to count the spool")
        wait_for(lambda: not list(spool.glob("*.ndjson")), 10, "the spool to empty")
        await miner.close()
        return told

    told = asyncio.run(scenario())
    stratum.stop()
    posts = proxy.posts()
    proxy.close()
    web.stop()
    first = posts[0]
    assert first.lost and first.status == 200
    attempts = [p for p in posts if p.key == first.key]
    assert [p.status for p in attempts if p.status] == [200, 200]  # 503s in between
    assert attempts[-1].replayed
    assert stratum.process.ingest.spooled >= 1
    assert told == (SHARES, 1)
    assert counted(node, "rig1") == told


def test_a_restarted_process_drains_the_spool_an_earlier_one_left(
    node: Node, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    web = NodeServer(node)
    web.start()
    before = Running(process(node, web.ingest_url, spool)).start()

    async def scenario() -> tuple[int, int]:
        miner = await authorized(before.port, "alice.rig1")
        web.stop()
        told = await mine(miner, "alice.rig1", SHARES)
        await miner.close()
        return told

    told = asyncio.run(scenario())
    before.stop()
    left = sorted(spool.glob("*.ndjson"))
    assert len(left) == SHARES + 1 and len(spooled_events(spool)) == SHARES + 1
    assert counted(node, "rig1") == (0, 0)

    web.start()
    after = Running(process(node, web.ingest_url, spool)).start()
    wait_for(lambda: counted(node, "rig1") == told, 30, "the node to count the old spool")
    wait_for(lambda: not list(spool.glob("*.ndjson")), 10, "the spool to empty")
    after.stop()
    web.stop()
    assert told == (SHARES, 1)
    assert after.process.ingest.drained == len(left)


def test_unknown_users_are_refused_with_code_24_and_asked_of_the_node_once(
    node: Node, tmp_path: Path
) -> None:
    web = NodeServer(node)
    web.start()
    proxy = Proxy(web.url)
    stratum = Running(process(node, proxy.url + "/ingest/shares", tmp_path / "spool")).start()

    async def scenario() -> list[dict[str, Any]]:
        miner = await Miner.connect(stratum.port)
        await miner.call("mining.subscribe", [])
        replies = [await miner.call("mining.authorize", ["mallory.rig", "x"]) for _ in range(5)]
        replies.append(await miner.call("mining.authorize", ["bad!name.rig", "x"]))
        await miner.close()
        for _ in range(2):  # two miners of one known user
            miner = await authorized(stratum.port, "alice.rig")
            await miner.close()
        return replies

    replies = asyncio.run(scenario())
    stratum.stop()
    lookups = [g.path for g in proxy.gets()]
    proxy.close()
    web.stop()
    assert [r["error"] for r in replies] == [[24, "unknown user 'mallory'", None]] * 5 + [
        [24, "unknown user 'bad!name'", None]
    ]
    # mallory once (then remembered as unknown), alice once (then known), bad!name never
    assert sorted(lookups) == ["/ingest/users/alice", "/ingest/users/mallory"]


def test_a_refused_token_keeps_the_shares_in_the_spool_and_never_logs_it(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="poolstats.stratum")
    spool = tmp_path / "spool"
    web = NodeServer(node)
    web.start()
    # The drain's probes back off to 1 s (5 s by default): FAST's 0.1 s would make 20 wrong
    # tokens, and the node's throttle, within the few seconds a busy machine takes to mine.
    timing = dataclasses.replace(FAST, max_backoff_s=1.0)
    stratum = Running(process(node, web.ingest_url, spool, timing)).start()
    settings = node.service.settings

    async def scenario() -> tuple[int, int]:
        miner = await authorized(stratum.port, "alice.rig1")
        node.service.settings = dataclasses.replace(settings, ingest_token="rotated")
        told = await mine(miner, "alice.rig1", SHARES)
        assert len(spooled_events(spool)) == sum(told)
        assert counted(node, "rig1") == (0, 0)
        wait_for(lambda: any("HTTP 401" in r.getMessage() for r in caplog.records), 10,
                 "the refused token to be logged")  # fmt: skip
        node.service.settings = settings  # the token is right again: the drain gets through
        wait_for(lambda: counted(node, "rig1") == told, 30, "the node to count the spool")
        # a batch's file goes once its answer is read, a moment after the node counted it
        wait_for(lambda: not list(spool.glob("*.ndjson")), 10, "the spool to empty")
        await miner.close()
        return told

    told = asyncio.run(scenario())
    stratum.stop()
    web.stop()
    assert told == (SHARES, 1)
    assert not list(spool.glob("*.ndjson"))
    refused = [r for r in caplog.records if "HTTP 401" in r.getMessage()]
    assert refused and all(r.levelno == logging.ERROR for r in refused)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    # The drain probes one batch at a time while refused, so the node never throttled it.
    metrics = node.service.metrics.registry
    failures = metrics.get_sample_value("poolstats_auth_failures_total", {"kind": "ingest_token"})
    assert failures is not None and 0 < failures < 20
    assert not metrics.get_sample_value("poolstats_auth_throttled_total", {"kind": "ingest_token"})


def test_lines_the_node_refuses_are_its_verdict_not_retried(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    web = NodeServer(node)
    web.start()
    ingest = RemoteIngest(web.ingest_url, TOKEN, Spool(tmp_path / "spool"), FAST)
    good = {"ts": T0 - 1, "puid": ALICE, "worker": "rig", "diff": 2.0, "status": "accept"}
    ingest(ndjson(good, {**good, "diff": -1}, good))
    ingest.close()
    web.stop()
    assert counted(node, "rig") == (2, 0)
    assert (ingest.posted, ingest.spooled, ingest.refused_lines) == (1, 0, 1)
    assert any("diff:" in r.getMessage() for r in caplog.records)


def drain_one(ingest: RemoteIngest, body: bytes, done: Callable[[], bool]) -> None:
    """Hand ``body`` to ``ingest`` as the sink would, with the drain running, until ``done``
    and the spool is empty (the node may count a batch before the drain deletes its file)."""

    def finished() -> bool:
        return done() and ingest.spool.batches() == []

    async def scenario() -> None:
        drain = asyncio.create_task(ingest.run())
        await asyncio.to_thread(ingest, body)  # returns: the miners are answered
        await asyncio.to_thread(wait_for, finished, 10, "the drain")  # off the drain's loop
        drain.cancel()

    asyncio.run(scenario())
    ingest.close()


def test_a_batch_too_large_for_the_node_is_sent_in_halves(node: Node, tmp_path: Path) -> None:
    web = NodeServer(node)
    web.start()
    spool = Spool(tmp_path / "spool")
    ingest = RemoteIngest(web.ingest_url, TOKEN, spool, FAST)
    line = {"ts": T0 - 1, "puid": ALICE, "worker": "big", "diff": 2.0, "status": "accept"}
    lines = MAX_BODY // 60
    body = ndjson(*[line] * lines)
    assert MAX_BODY < len(body) < 2 * MAX_BODY  # the node answers 413; a half fits

    drain_one(ingest, body, lambda: counted(node, "big") == (lines, 0))
    web.stop()
    assert spool.batches() == [] and list(spool.refused_dir.iterdir()) == []
    assert (ingest.posted, ingest.spooled, ingest.halved, ingest.drained) == (0, 1, 1, 2)


def test_a_line_the_node_can_never_take_is_set_aside_whole(node: Node, tmp_path: Path) -> None:
    web = NodeServer(node)
    web.start()
    spool = Spool(tmp_path / "spool")
    ingest = RemoteIngest(web.ingest_url, TOKEN, spool, FAST)
    line = {"ts": T0 - 1, "puid": ALICE, "worker": "big", "diff": 2.0, "agent": "x" * MAX_BODY}
    body = ndjson(line)

    drain_one(ingest, body, lambda: any(spool.refused_dir.iterdir()))
    web.stop()
    (kept,) = spool.refused_dir.iterdir()
    assert kept.read_bytes() == body  # kept for an operator, whole
    assert spool.batches() == []
    assert counted(node, "big") == (0, 0)
    assert ingest.set_aside == 1


def test_a_full_spool_refuses_the_batch_instead_of_acknowledging_it(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}/ingest/shares"  # nothing listens there
    spool = Spool(tmp_path / "spool", max_bytes=100)
    ingest = RemoteIngest(down, TOKEN, spool, FAST)
    ingest(b"x" * 60)
    with pytest.raises(SpoolFull, match="limit of 100"):
        ingest(b"y" * 60)
    ingest.close()
    assert [p.read_bytes() for p in spool.batches()] == [b"x" * 60]
    assert spool.size_bytes == 60


def test_a_write_a_crash_cut_short_is_removed_and_complete_ones_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    kept = spool.write("k1", b'{"a":1}\n')
    (tmp_path / ".tmp-00000000000000000001-k2.ndjson").write_bytes(b'{"half')
    again = Spool(tmp_path)
    assert again.batches() == [kept]
    assert again.read(kept) == ("k1", b'{"a":1}\n')
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name, "refused"]
    assert again.size_bytes == 8


def test_spooled_batches_come_back_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    keys = [f"key{i}" for i in range(20)]
    for key in keys:
        spool.write(key, key.encode())
    assert [spool.read(p) for p in spool.batches()] == [(k, k.encode()) for k in keys]


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, {"accepted": 1, "refused": 0, "errors": []}, Verdict.COUNTED),
        (200, {"hello": "a proxy's page"}, Verdict.HOLD),  # not the node: keep the batch
        (401, {}, Verdict.HOLD),
        (403, {}, Verdict.HOLD),
        (404, {}, Verdict.HOLD),
        (302, {}, Verdict.HOLD),
        (400, {}, Verdict.REFUSED),
        (413, {}, Verdict.TOO_LARGE),
        (415, {}, Verdict.REFUSED),
        (408, {}, Verdict.RETRY),
        (429, {}, Verdict.RETRY),
        (500, {}, Verdict.RETRY),
        (503, {}, Verdict.RETRY),
    ],
)
def test_each_answer_is_handled_for_what_it_means(
    status: int, body: dict[str, Any], verdict: Verdict
) -> None:
    assert judge(httpx.Response(status, json=body)).verdict is verdict


def test_retry_after_is_read_in_seconds() -> None:
    answer = judge(httpx.Response(429, headers={"Retry-After": "7"}))
    assert (answer.verdict, answer.retry_after_s) == (Verdict.RETRY, 7.0)


def test_user_look_ups_go_next_to_the_ingest_url() -> None:
    users = RemoteUsers("http://10.0.0.1:8080/pool/ingest/shares", TOKEN)
    assert users.url_of("alice") == "http://10.0.0.1:8080/pool/ingest/users/alice"


def test_settings_the_process_needs_are_named_when_missing(tmp_path: Path) -> None:
    template = StaticTemplate(height=900_000, payout_script=b"\x51")
    base = Settings(data_dir=tmp_path, ingest_token=TOKEN, stratum_port=free_port(),
                    stratum_ingest_url="http://127.0.0.1:1/ingest/shares")  # fmt: skip
    overrides: list[tuple[dict[str, Any], str]] = [
        ({"stratum_ingest_url": ""}, "stratum_ingest_url"),
        ({"stratum_ingest_url": "ftp://h/x"}, "stratum_ingest_url"),
        ({"ingest_token": ""}, "ingest_token"),
        ({"stratum_port": 0}, "stratum_port"),
    ]
    for override, field in overrides:
        with pytest.raises(ValueError, match=f"^{field}:"):
            stratum_process(dataclasses.replace(base, **override), template, CONFIG)
    built = stratum_process(base, template, CONFIG)
    assert built.ingest.spool.directory == tmp_path / "stratum-spool"
    built.ingest.close()
