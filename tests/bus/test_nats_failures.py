"""The JetStream bus through real failures: a server restarted, a cluster node stopped.

A producer publishes numbered batches and retries each on ``BusUnavailable`` with the same
id (what a gateway does); a consumer runs all along, retrying its fetches the same way.
Afterwards the consumer must have seen every id exactly once, in order, and a fresh consumer
from sequence 0 must find each stored exactly once (the dedupe window absorbed the retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from poolstats.bus import BusUnavailable, Delivery, Subscription
from poolstats.bus.nats import NatsBus
from tests.bus.contract import fetch_n
from tests.bus.nats_servers import NatsServer, cluster
from tests.nodes import until

pytestmark = pytest.mark.slow


class Producer:
    """Publishes ids 0..n-1 to partition 0, each until the bus accepts it."""

    def __init__(self, bus: NatsBus, n: int) -> None:
        self.bus, self.n = bus, n
        self.accepted: list[int] = []  # seqs, in id order
        self.refusals = 0

    async def run(self) -> None:
        for i in range(self.n):
            deadline = time.monotonic() + 60
            while True:
                try:
                    published = await self.bus.publish(0, f"batch {i}".encode(), f"id-{i}")
                    break
                except BusUnavailable:
                    self.refusals += 1
                    assert time.monotonic() < deadline, f"id-{i} not accepted within 60 s"
                    await asyncio.sleep(0.05)  # retry pacing, as a gateway would
            self.accepted.append(published.seq)


class Consumer:
    """Fetches partition 0 from the start, acknowledging as it goes."""

    def __init__(self, bus: NatsBus) -> None:
        self.bus = bus
        self.seen: list[Delivery] = []
        self.errors = 0
        self.rounds = 0  # fetches that returned
        self.sub: Subscription | None = None
        self.stopped = False

    async def run(self) -> None:
        while not self.stopped:
            try:
                if self.sub is None:
                    self.sub = await consume(self.bus)
                got = await self.sub.fetch(50, 0.5)
                self.rounds += 1
                self.seen += got
                if got:
                    await self.sub.ack_through(got[-1].seq)
            except BusUnavailable:
                self.errors += 1
                await asyncio.sleep(0.05)

    async def lag(self) -> int:
        """The subscription's lag, retried while a cluster moves the consumer's leader."""
        deadline = time.monotonic() + 30
        assert self.sub is not None
        while True:
            try:
                return await self.sub.lag()
            except BusUnavailable:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)


def check_exactly_once(seen: list[Delivery], producer: Producer) -> None:
    counts = Counter(d.msg_id for d in seen)
    assert sum(counts.values()) == producer.n, (sum(counts.values()), producer.n)
    assert counts == Counter(f"id-{i}" for i in range(producer.n))
    assert [d.msg_id for d in seen] == [f"id-{i}" for i in range(producer.n)]
    assert [d.seq for d in seen] == producer.accepted
    assert [d.payload for d in seen] == [f"batch {i}".encode() for i in range(producer.n)]


async def connect(urls: str, replicas: int = 1, timeout_s: float = 30) -> NatsBus:
    """The bus, retried while a fresh cluster elects its leaders."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await NatsBus.connect(urls, replicas=replicas, publish_timeout_s=1.0)
        except BusUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def consume(bus: NatsBus, timeout_s: float = 60) -> Subscription:
    """Partition 0 from the start, retried while the cluster moves a consumer's leader."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await bus.consume(0, after_seq=0)
        except BusUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def disrupted_run(
    bus: NatsBus, n: int, disrupt: Callable[[], None], at: int
) -> tuple[Producer, Consumer]:
    """Publish n batches with a consumer running; ``disrupt()`` once ``at`` are accepted."""
    producer, consumer = Producer(bus, n), Consumer(bus)
    consuming = asyncio.create_task(consumer.run())
    producing = asyncio.create_task(producer.run())
    try:
        await until(lambda: len(producer.accepted) >= at or producing.done(), 60, "publishes")
        await asyncio.to_thread(disrupt)
        await asyncio.wait_for(producing, 120)
        await until(lambda: len(consumer.seen) >= n, 60, f"the consumer to see {n} batches")
        # Anything more than n would show up now: give it one more round of fetches.
        rounds = consumer.rounds
        await until(lambda: consumer.rounds >= rounds + 2, 30, "two more fetches")
    finally:
        consumer.stopped = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consuming, 30)
        if not producing.done():
            producing.cancel()
    return producer, consumer


def test_a_restarted_server_loses_and_doubles_nothing(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)
    server.start()

    def restart() -> None:
        server.stop()
        server.start()

    async def scenario() -> None:
        async with await connect(server.url) as bus:
            producer, consumer = await disrupted_run(bus, 300, restart, at=100)
            check_exactly_once(consumer.seen, producer)
            assert await consumer.lag() == 0  # every batch acknowledged
            assert bus.nc.stats["reconnects"] >= 1, "the client never saw the restart"
            fresh = await fetch_n(await bus.consume(0, after_seq=0), 300)
            check_exactly_once(fresh, producer)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_cluster_of_three_goes_on_without_one_node(tmp_path: Path) -> None:
    servers = cluster(tmp_path, 3)
    for s in servers:
        s.start(wait=False)
    try:
        for s in servers:
            s.wait_ready(60)
        urls = ",".join(s.url for s in servers)

        async def scenario() -> None:
            async with await connect(urls, replicas=3, timeout_s=60) as bus:
                info = await bus.js.stream_info(bus.stream)
                assert info.config.num_replicas == 3
                # Stop the node this client is connected to: it must move to another.
                port = bus.nc.connected_url.port if bus.nc.connected_url else None
                victim = next(s for s in servers if s.port == port)
                producer, consumer = await disrupted_run(bus, 300, victim.stop, at=100)
                check_exactly_once(consumer.seen, producer)
                assert await consumer.lag() == 0  # every batch acknowledged
                assert bus.nc.stats["reconnects"] >= 1
                assert bus.nc.connected_url and bus.nc.connected_url.port != victim.port
                fresh = await fetch_n(await consume(bus), 300)
                check_exactly_once(fresh, producer)

        asyncio.run(scenario())
    finally:
        for s in servers:
            s.stop()
