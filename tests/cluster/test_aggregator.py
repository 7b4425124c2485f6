"""The aggregator in-process, on the in-memory bus and SQLite: take-overs count history once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from poolstats.bus import MemoryBus
from poolstats.cluster import aggregator
from poolstats.cluster.aggregator import Aggregator, lease_name
from poolstats.cluster.gateway import Gateway
from poolstats.cluster.leaseholder import Leaseholder
from poolstats.config import Settings
from poolstats.ingest.pipeline import Format
from poolstats.service import Registry
from poolstats.store.sqlite import SqliteStore
from tests.nodes import until

BATCHES = 1500


def test_a_take_over_still_catching_up_counts_no_history_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        with SqliteStore.open(tmp_path / "db") as store:
            puid = store.create_user("alice", int(time.time())).puid
            bus = MemoryBus()
            gateway = Gateway(bus, Registry(store), time.time, 300.0)
            for i in range(BATCHES):
                body = json.dumps({"ts": time.time(), "puid": puid, "worker": f"w{i % 3}",
                                   "diff": 1.0, "accepted": True}).encode() + b"\n"  # fmt: skip
                await gateway.ingest(body, Format.NDJSON, key=f"b{i}")
            last = await bus.last_seq()
            settings = Settings(flush_interval_s=0.02, partitions=1)

            def start(name: str) -> tuple[Aggregator, asyncio.Task[None]]:
                lease = Leaseholder(store, lease_name(0), 2.0, time.time, holder=name)
                one = Aggregator(settings, store, bus, 0, Registry(store), tmp_path / name, lease)
                return one, asyncio.create_task(one.run())

            a, running = start("a")
            await until(lambda: store.history_seq(a.writer.seq_key) == last, 30, "a stores all")
            running.cancel()  # releases the lease: b takes over at once
            await asyncio.gather(running, return_exceptions=True)
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
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            assert flushes_behind >= 2
            with store.read() as conn:
                history = conn.execute(sa.text(
                    "SELECT sum(accept) FROM history_subaccount WHERE period_s = 3600"
                )).scalar()  # fmt: skip
                counted = conn.execute(sa.text("SELECT sum(accept_count) FROM workers")).scalar()
            assert (history, counted) == (float(BATCHES), BATCHES)

    asyncio.run(scenario())
