"""The aggregator in-process, on the in-memory bus and SQLite: take-overs count history once,
and a standby or holder cut off from the store and back again counts every batch once."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from poolstats.bus import MemoryBus
from poolstats.cluster import aggregator
from poolstats.cluster.aggregator import Aggregator, lease_name
from poolstats.cluster.gateway import Gateway
from poolstats.cluster.leaseholder import Leaseholder
from poolstats.config import Settings
from poolstats.engine.snapshot import Flush
from poolstats.ingest.pipeline import Format
from poolstats.service import Registry
from poolstats.store import leases, schema
from poolstats.store.base import FlushWriter
from poolstats.store.sqlite import SqliteStore
from tests.nodes import until
from tests.store.helpers import make_flush

BATCHES = 1500


class FlakyStore:
    """The real store, with writes (flushes and lease renewals) and, if asked, reads that fail
    as an unreachable database does while ``down`` is set: the aggregator's view of an outage."""

    def __init__(self, store: SqliteStore, reads_too: bool = False) -> None:
        self._store = store
        self._reads_too = reads_too
        self.down = False
        self.refused = 0
        self.write_s = 0.0
        self.flushes_started: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _check(self) -> None:
        if self.down:
            self.refused += 1
            raise sa.exc.OperationalError("(test)", {}, ConnectionError("the store is down"))

    def write_flush(self, flush: Flush, writer: FlushWriter) -> None:
        self._check()
        self.flushes_started.append(time.monotonic())
        time.sleep(self.write_s)  # a database that takes this long to write a flush
        self._store.write_flush(flush, writer)

    def lease_write(self) -> AbstractContextManager[sa.Connection]:
        self._check()
        return self._store.lease_write()

    def history_seq(self, key: str) -> int:
        if self._reads_too:
            self._check()
        return self._store.history_seq(key)


async def publish(store: SqliteStore, bus: MemoryBus, puid: int, first: int, n: int) -> int:
    """``n`` one-share batches of ``puid`` (keys ``b{first}`` on) through a gateway; the last
    sequence."""
    gateway = Gateway(bus, Registry(store), time.time, 300.0)
    for i in range(first, first + n):
        body = json.dumps({"ts": time.time(), "puid": puid, "worker": f"w{i % 3}",
                           "diff": 1.0, "accepted": True}).encode() + b"\n"  # fmt: skip
        await gateway.ingest(body, Format.NDJSON, key=f"b{i}")
    return await bus.last_seq()


def stored_counts(store: SqliteStore) -> tuple[float | None, int | None]:
    """(the hourly history's accepted shares, the workers' accepted shares) as stored."""
    with store.read() as conn:
        history = conn.execute(sa.text(
            "SELECT sum(accept) FROM history_subaccount WHERE period_s = 3600"
        )).scalar()  # fmt: skip
        counted = conn.execute(sa.text("SELECT sum(accept_count) FROM workers")).scalar()
    return history, counted


async def active_on(
    flaky: FlakyStore, bus: MemoryBus, folder: Path
) -> tuple[Aggregator, Leaseholder, asyncio.Task[None]]:
    """Partition 0's aggregator "a" on ``flaky`` (flushes every 0.05 s, a lease of 0.6 s),
    running and active."""
    settings = Settings(flush_interval_s=0.05, partitions=1)
    lease = Leaseholder(flaky, lease_name(0), 0.6, time.time, holder="a")
    a = Aggregator(settings, flaky, bus, 0, Registry(flaky._store), folder / "a", lease)
    running = asyncio.create_task(a.run())
    await until(lambda: a.state.active, 30, "a active")
    return a, lease, running


async def counted_while_down(a: Aggregator, flaky: FlakyStore, bus: MemoryBus, puid: int) -> int:
    """The store goes down; 30 batches are published, and ``a`` counts them with its flushes
    queued. The last sequence."""
    flaky.down = True
    last = await publish(flaky._store, bus, puid, 0, 30)
    await until(lambda: a.state.applied_seq == last and a._unwritten, 30, "a queued")
    return last


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_a_take_over_still_catching_up_counts_no_history_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        with SqliteStore.open(tmp_path / "db") as store:
            puid = store.create_user("alice", int(time.time())).puid
            bus = MemoryBus()
            last = await publish(store, bus, puid, 0, BATCHES)
            settings = Settings(flush_interval_s=0.02, partitions=1)

            def start(name: str) -> tuple[Aggregator, asyncio.Task[None]]:
                lease = Leaseholder(store, lease_name(0), 2.0, time.time, holder=name)
                one = Aggregator(settings, store, bus, 0, Registry(store), tmp_path / name, lease)
                return one, asyncio.create_task(one.run())

            a, running = start("a")
            await until(lambda: store.history_seq(a.writer.seq_key) == last, 30, "a stores all")
            await stop(running)  # releases the lease: b takes over at once
            # b starts with nothing (no checkpoint) and reads the bus one batch at a time, so
            # it flushes several times before it has caught up with what a stored
            monkeypatch.setattr(aggregator, "FETCH_MAX", 1)
            b, running = start("b")
            flushes_behind = 0
            while b.state.applied_seq < last:
                seen = b.state.last_flush_at
                await until(lambda seen=seen: b.state.last_flush_at != seen, 30, "b's flush")
                flushes_behind += b.state.applied_seq < last
            seen = b.state.last_flush_at
            await until(lambda: b.state.last_flush_at != seen, 30, "b's flush, caught up")
            await stop(running)
            assert flushes_behind >= 2
            assert stored_counts(store) == (float(BATCHES), BATCHES)

    asyncio.run(scenario())


def test_a_standby_that_hit_an_error_applies_its_held_back_batches_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A standby holds back what the active one has not stored yet. A store error sends it
    back through ``run``'s retry into a new follower, which hands those batches out again:
    they must not be counted twice (the realtime figures would read double)."""
    monkeypatch.setattr(aggregator, "RETRY_S", 0.01)
    monkeypatch.setattr(aggregator, "STORED_SEQ_POLL_S", 0.05)

    async def scenario() -> None:
        with SqliteStore.open(tmp_path / "db") as store:
            puid = store.create_user("alice", int(time.time())).puid
            bus = MemoryBus()
            last = await publish(store, bus, puid, 0, 40)
            half = last - 20
            seq_key = schema.partition_seq_key(0)
            with store.write() as conn:  # the active one has stored the first half
                conn.execute(sa.insert(schema.meta).values(key=seq_key, value=str(half)))
            holder = Leaseholder(store, lease_name(0), 30.0, time.time, holder="active")
            assert await asyncio.to_thread(holder.try_once)
            settings = Settings(flush_interval_s=0.05, partitions=1)
            flaky = FlakyStore(store, reads_too=True)
            lease = Leaseholder(flaky, lease_name(0), 30.0, time.time, holder="standby")
            b = Aggregator(settings, flaky, bus, 0, Registry(store), tmp_path / "b", lease)
            running = asyncio.create_task(b.run())
            await until(lambda: b.state.applied_seq == half and b._held_back, 30,
                        "the standby holding back what is not stored")  # fmt: skip
            flaky.down = True
            await until(lambda: flaky.refused > 0, 30, "the standby's poll refused")
            flaky.down = False
            with store.write() as conn:  # the active one has stored everything, and stops
                conn.execute(sa.update(schema.meta).where(schema.meta.c.key == seq_key)
                             .values(value=str(last)))  # fmt: skip
                leases.release(conn, lease_name(0), "active", holder.epoch)
            await until(lambda: b.state.active and b.state.last_flush_at > 0, 30, "b flushed")
            await stop(running)
            # the history of every batch was "stored by the active one": none from b
            assert stored_counts(store) == (None, last)

    asyncio.run(scenario())


def test_a_holder_that_takes_its_own_lease_again_writes_what_it_had_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store goes away: the active aggregator's flushes queue and its lease lapses. When
    the store is back and nobody else took the lease, it takes it again at the same epoch,
    and its queued flushes (the history of those batches) are still its own to write."""
    monkeypatch.setattr(aggregator, "RETRY_S", 0.01)

    async def scenario() -> None:
        with SqliteStore.open(tmp_path / "db") as store:
            puid = store.create_user("alice", int(time.time())).puid
            bus = MemoryBus()
            flaky = FlakyStore(store)
            a, lease, running = await active_on(flaky, bus, tmp_path)
            epoch = lease.epoch
            last = await counted_while_down(a, flaky, bus, puid)
            await until(lambda: not lease.held, 30, "a's lease lapsed")
            flaky.down = False
            await until(lambda: store.history_seq(a.writer.seq_key) == last, 30, "a stored")
            assert lease.epoch == epoch  # the same holder, the same epoch: nobody between
            await stop(running)
            assert stored_counts(store) == (float(last), last)

    asyncio.run(scenario())


def test_a_holder_whose_lease_another_held_meanwhile_drops_what_it_had_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but a standby took the lease while the first one was cut off, stored every
    batch and stopped: what the first one had queued is now the other's, stored once already,
    and when it takes the lease back (a new epoch) it must not write it again."""
    monkeypatch.setattr(aggregator, "RETRY_S", 0.01)
    monkeypatch.setattr(aggregator, "STORED_SEQ_POLL_S", 0.05)

    async def scenario() -> None:
        with SqliteStore.open(tmp_path / "db") as store:
            puid = store.create_user("alice", int(time.time())).puid
            bus = MemoryBus()
            cut_off = FlakyStore(store)
            a, lease_a, running_a = await active_on(cut_off, bus, tmp_path)
            epoch_a = lease_a.epoch
            first = await counted_while_down(a, cut_off, bus, puid)
            lease_b = Leaseholder(store, lease_name(0), 0.6, time.time, holder="b")
            b = Aggregator(a.settings, store, bus, 0, Registry(store), tmp_path / "b", lease_b)
            running_b = asyncio.create_task(b.run())
            await until(lambda: store.history_seq(b.writer.seq_key) == first, 30, "b stored")
            epoch_b = lease_b.epoch
            await stop(running_b)  # releases the lease
            cut_off.down = False
            await until(lambda: a.state.active, 30, "a active again")
            assert lease_a.epoch > epoch_b > epoch_a
            last = await publish(store, bus, puid, 30, 10)
            await until(lambda: store.history_seq(a.writer.seq_key) == last, 30, "a stored")
            await stop(running_a)
            assert stored_counts(store) == (40.0, 40)

    asyncio.run(scenario())


def test_an_aggregator_taking_over_retires_the_pool_rows_of_partitions_gone(
    tmp_path: Path,
) -> None:
    """The partition count was 5 and is 1 now: partition 4's last pool row would be added to
    the pool's figures for ever. The aggregator taking over deletes it."""

    async def scenario() -> None:
        with SqliteStore.open(tmp_path / "db") as store:
            puid = store.create_user("alice", int(time.time())).puid
            gone = make_flush(seq=1, pool={"workers_active": 99, "users_active": 9})
            store.write_flush(gone, FlushWriter(partition=4))
            bus = MemoryBus()
            last = await publish(store, bus, puid, 0, 30)  # three workers
            settings = Settings(flush_interval_s=0.05, partitions=1)
            lease = Leaseholder(store, lease_name(0), 2.0, time.time, holder="a")
            a = Aggregator(settings, store, bus, 0, Registry(store), tmp_path / "a", lease)
            running = asyncio.create_task(a.run())
            await until(lambda: store.history_seq(a.writer.seq_key) == last, 30, "a stored")
            await stop(running)
            pool = store.pool_stats()
            assert pool is not None and (pool["workers_active"], pool["users_active"]) == (3, 1)

    asyncio.run(scenario())


def test_flushes_start_an_interval_apart_however_long_each_takes(tmp_path: Path) -> None:
    """A share waits for the next flush to start and for it to commit: timed from the end of
    the last flush, that would be up to the interval plus two flushes."""
    interval, write_s = 0.5, 0.3

    async def scenario() -> None:
        with SqliteStore.open(tmp_path / "db") as store:
            slow = FlakyStore(store)
            slow.write_s = write_s
            settings = Settings(flush_interval_s=interval, partitions=1)
            lease = Leaseholder(store, lease_name(0), 5.0, time.time, holder="a")
            a = Aggregator(settings, slow, MemoryBus(), 0, Registry(store), tmp_path / "a", lease)
            running = asyncio.create_task(a.run())
            await until(lambda: len(slow.flushes_started) >= 8, 30, "eight flushes")
            await stop(running)
            gaps = sorted(b - a for a, b in itertools.pairwise(slow.flushes_started[:8]))
            median = gaps[len(gaps) // 2]
            assert interval * 0.9 <= median < interval + write_s / 2, gaps

    asyncio.run(scenario())
