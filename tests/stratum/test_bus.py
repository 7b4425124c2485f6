"""``poolstats stratum --bus-url``: a real stratum process publishing to a real nats-server,
real miners over TCP, real aggregators counting each partition into PostgreSQL. Every share
a miner was told is accepted is in the store exactly once, whatever happens to the bus: its
server stopped and started again, an acknowledgement lost after the batch was stored."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from poolstats.config import Settings
from poolstats.domain.partitions import partition_of
from poolstats.stratum.jobs import StaticTemplate
from poolstats.stratum.remote import stratum_process
from tests.bus.nats_proxy import NatsProxy
from tests.bus.nats_servers import NatsServer
from tests.cluster.test_processes import lease_holder, new_user, stored_workers
from tests.nodes import Process, free_port, wait_for
from tests.services import fresh_database
from tests.stratum.miner import Miner
from tests.stratum.test_remote import CONFIG, DIFF

DIFFICULTY = str(float(DIFF))  # fixed (min = max): about 65,536 hashes a share


@pytest.fixture
def store_url() -> Iterator[str]:
    yield from fresh_database()


class Cluster:
    """nats-server, an aggregator per partition and a ``poolstats stratum --bus-url`` (to
    ``bus_url``, the server's unless given), all real processes on the test's folder."""

    def __init__(self, tmp_path: Path, store_url: str, partitions: int) -> None:
        self.tmp_path = tmp_path
        self.store_url = store_url
        self.partitions = partitions
        self.nats = NatsServer(tmp_path / "nats")
        self.procs: list[Process] = []
        self.stratum_port = free_port()
        self.metrics_port = free_port()  # the stratum process's own /metrics
        self.spool = tmp_path / "stratum" / "stratum-spool"

    def settings(self, bus_url: str) -> dict[str, object]:
        return {"bus_url": bus_url, "store_url": self.store_url,
                "partitions": self.partitions, "flush_interval_s": 0.3}  # fmt: skip

    def start(self, name: str, bus_url: str, *args: str) -> Process:
        folder = self.tmp_path / name
        folder.mkdir()
        proc = Process(self.tmp_path / f"{name}.log", *args, "--data-dir", str(folder),
                       settings=self.settings(bus_url))  # fmt: skip
        self.procs.append(proc)
        return proc

    def start_aggregators(self) -> None:
        for k in range(self.partitions):
            self.start(f"agg{k}", self.nats.url, "aggregate", "--partition", str(k))
        for k in range(self.partitions):
            wait_for(lambda k=k: lease_holder(self.store_url, f"aggregate/{k}"), 60,
                     f"partition {k}'s lease")  # fmt: skip

    def start_stratum(self, bus_url: str) -> Process:
        stratum = self.start("stratum", bus_url, "stratum", "--stratum-port",
                             str(self.stratum_port), "--stratum-min-diff", DIFFICULTY,
                             "--stratum-max-diff", DIFFICULTY,
                             "--metrics-port", str(self.metrics_port))  # fmt: skip
        wait_for(lambda: stratum.running() and "publishing to the share bus" in stratum.log(),
                 60, "the stratum process to reach the bus")  # fmt: skip
        return stratum

    def spooled_shares(self) -> int:
        """Shares waiting in the spool, read while the drain deletes files."""
        total = 0
        for path in self.spool.glob("*.ndjson"):
            if path.name.startswith("."):
                continue  # a write in progress: its shares are not answered yet
            with contextlib.suppress(FileNotFoundError):  # drained meanwhile
                total += len(path.read_bytes().splitlines())
        return total

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()  # nothing to do for one that has exited
        self.nats.stop()


@dataclasses.dataclass
class Rig:
    """One miner of one sub-account's worker, mining at ``DIFF``."""

    login: str
    puid: int
    miner: Miner
    nonce: int = 0

    @classmethod
    async def connect(cls, port: int, login: str, puid: int) -> Rig:
        miner = await Miner.connect(port)
        await miner.start(login)
        assert miner.difficulty == float(DIFF)
        return cls(login, puid, miner)

    async def mine(self, shares: int, told: Counter[tuple[int, str]]) -> None:
        """Mine ``shares`` shares; count in ``told`` those the miner is told are accepted."""
        worker = self.login.partition(".")[2]
        for _ in range(shares):
            params, nonce = self.miner.find(extranonce2=7, start_nonce=self.nonce)
            self.nonce = nonce + 1
            reply = await self.miner.call("mining.submit", [self.login, *params])
            assert reply["error"] is None, reply
            told[(self.puid, worker)] += reply["result"] is True


def counted_once(store_url: str, told: Counter[tuple[int, str]]) -> None:
    """Wait for the store to hold exactly what the miners were told; fail showing both."""
    with contextlib.suppress(AssertionError):
        wait_for(lambda: stored_workers(store_url) == dict(told), 60, "the store")
    assert stored_workers(store_url) == dict(told)


def users(cluster: Cluster, count: int) -> list[tuple[str, int]]:
    """``count`` sub-accounts made as an operator does, covering every partition."""
    made = [(f"miner{i}", new_user(cluster.store_url, cluster.tmp_path, f"miner{i}"))
            for i in range(count)]  # fmt: skip
    parts = {partition_of(p, cluster.partitions) for _, p in made}
    assert parts == set(range(cluster.partitions))
    return made


@pytest.mark.slow
def test_a_stratum_process_publishes_to_the_bus_and_every_partition_counts_its_shares(
    tmp_path: Path, store_url: str
) -> None:
    cluster = Cluster(tmp_path, store_url, partitions=2)
    cluster.nats.start()
    try:
        accounts = users(cluster, 4)
        cluster.start_aggregators()
        cluster.start_stratum(cluster.nats.url)
        told: Counter[tuple[int, str]] = Counter()

        async def scenario() -> None:
            rigs = [await Rig.connect(cluster.stratum_port, f"{name}.rig{i}", puid)
                    for i, (name, puid) in enumerate(accounts)]  # fmt: skip
            unknown = await Miner.connect(cluster.stratum_port)
            await unknown.call("mining.subscribe", ["test-miner/1.0"])
            refused = await unknown.call("mining.authorize", ["mallory.rig", "x"])
            assert refused["error"] == [24, "unknown user 'mallory'", None]
            await asyncio.gather(*(rig.mine(5, told) for rig in rigs))
            for rig in rigs:
                await rig.miner.close()
            await unknown.close()

        asyncio.run(scenario())
        assert sum(told.values()) == 20
        counted_once(store_url, told)
        assert cluster.spooled_shares() == 0
        scraped = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=5).text
        assert 'poolstats_stratum_submits_total{result="accepted"} 20.0' in scraped
        # 20 submits, in batches of one or more (the rigs mine side by side), all published
        counted = re.search(r'poolstats_stratum_post_seconds_count\{verdict="counted"\} (\S+)',
                            scraped)  # fmt: skip
        assert counted is not None and 1 <= float(counted.group(1)) <= 20
        assert "poolstats_stratum_spool_batches 0.0" in scraped
    finally:
        cluster.close()


@pytest.mark.slow
def test_with_the_bus_gone_miners_are_answered_and_the_spool_counts_once_when_it_is_back(
    tmp_path: Path, store_url: str
) -> None:
    cluster = Cluster(tmp_path, store_url, partitions=2)
    cluster.nats.start()
    proxy = NatsProxy(cluster.nats.port)  # the stratum reaches the bus through it
    try:
        accounts = users(cluster, 4)
        cluster.start_aggregators()
        stratum = cluster.start_stratum(proxy.url)
        told: Counter[tuple[int, str]] = Counter()

        async def scenario() -> None:
            rigs = [await Rig.connect(cluster.stratum_port, f"{name}.rig{i}", puid)
                    for i, (name, puid) in enumerate(accounts)]  # fmt: skip
            await asyncio.gather(*(rig.mine(2, told) for rig in rigs))

            # Stored by JetStream, its acknowledgement lost: spooled, published again
            # under the same ids, and stored once.
            proxy.lose_acks = 1
            await rigs[0].mine(1, told)
            wait_for(lambda: proxy.lost, 10, "an acknowledgement to be lost")
            lost_seq = proxy.lost[0]["seq"]
            wait_for(lambda: any(a.get("duplicate") and a["seq"] == lost_seq
                                 for a in proxy.acks),
                     30, "the batch sent again to be recognised as a duplicate")  # fmt: skip

            # The bus gone: every share is still answered, from the spool.
            cluster.nats.stop()
            before = sum(told.values())
            await asyncio.gather(*(rig.mine(3, told) for rig in rigs))
            assert sum(told.values()) == before + 12
            assert cluster.spooled_shares() >= 12
            assert stratum.running()

            cluster.nats.start()  # the spool drains
            wait_for(lambda: cluster.spooled_shares() == 0, 60, "the spool to drain")
            await asyncio.gather(*(rig.mine(1, told) for rig in rigs))  # and live again
            for rig in rigs:
                await rig.miner.close()

        asyncio.run(scenario())
        assert sum(told.values()) == 4 * 2 + 1 + 4 * 3 + 4
        counted_once(store_url, told)
        assert "does not take shares" in stratum.log()
    finally:
        proxy.close()
        cluster.close()


@pytest.mark.slow
def test_a_stratum_process_started_before_nats_serves_miners_into_its_spool(
    tmp_path: Path, store_url: str
) -> None:
    cluster = Cluster(tmp_path, store_url, partitions=1)
    try:
        accounts = users(cluster, 1)
        stratum = cluster.start("stratum", cluster.nats.url, "stratum", "--stratum-port",
                                str(cluster.stratum_port), "--stratum-min-diff", DIFFICULTY,
                                "--stratum-max-diff", DIFFICULTY)  # fmt: skip
        wait_for(lambda: stratum.running() and "not connected yet" in stratum.log(), 60,
                 "the stratum process to find no bus")  # fmt: skip
        told: Counter[tuple[int, str]] = Counter()

        async def scenario() -> None:
            name, puid = accounts[0]
            rig = await Rig.connect(cluster.stratum_port, f"{name}.rig", puid)
            await rig.mine(3, told)
            assert cluster.spooled_shares() == 3
            cluster.nats.start()
            cluster.start_aggregators()
            wait_for(lambda: cluster.spooled_shares() == 0, 60, "the spool to drain")
            await rig.mine(2, told)
            await rig.miner.close()

        asyncio.run(scenario())
        assert told == {(accounts[0][1], "rig"): 5}
        counted_once(store_url, told)
    finally:
        cluster.close()


def test_a_node_url_and_a_bus_url_together_or_neither_are_refused_naming_them(
    tmp_path: Path,
) -> None:
    template = StaticTemplate(height=900_000, payout_script=b"\x51")
    base = Settings(data_dir=tmp_path, stratum_port=free_port(), bus_url="nats://127.0.0.1:1",
                    store_url="postgresql://nobody@127.0.0.1:1/none")  # fmt: skip
    cases: list[tuple[dict[str, Any], str]] = [
        ({"stratum_ingest_url": "http://127.0.0.1:1/ingest/shares"},
         r"^stratum_ingest_url \(--ingest-url\) and bus_url \(--bus-url\): give one"),
        ({"bus_url": ""}, r"^stratum_ingest_url: .* or bus_url \(--bus-url\)"),
        ({"bus_url": "http://127.0.0.1:4222"}, r"^bus_url: nats://"),
        ({"store_url": ""}, r"^store_url \(--store-url\): required with bus_url"),
    ]  # fmt: skip
    for override, message in cases:
        with pytest.raises(ValueError, match=message):
            stratum_process(dataclasses.replace(base, **override), template, CONFIG)
