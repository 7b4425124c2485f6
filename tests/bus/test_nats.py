"""What only the JetStream backend has: the stream's settings, the server's payload limit,
redeliveries after ack_wait, and servers that do not answer."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from poolstats.bus import BusUnavailable, open_bus
from poolstats.bus import nats as nats_bus
from poolstats.bus.nats import NatsBus, server_list
from poolstats.config import Settings
from tests.bus.conftest import delete_stream, isolated
from tests.bus.contract import fetch_n
from tests.bus.nats_servers import NatsServer
from tests.nodes import free_port
from tests.services import require_nats


def test_the_stream_gets_the_settings_and_follows_their_changes() -> None:
    url = require_nats()
    names = isolated()

    async def scenario() -> None:
        settings = Settings(
            partitions=3, bus_retention_s=3600, bus_dedupe_window_s=30, bus_max_bytes=2**30
        )
        async with await open_bus(url, settings, **names) as bus:
            assert isinstance(bus, NatsBus) and bus.partitions == 3
            config = (await bus.js.stream_info(names["stream"])).config
            assert config.subjects == [names["prefix"] + ".*"]
            assert (config.max_age, config.duplicate_window) == (3600, 30)
            assert (config.max_bytes, config.num_replicas) == (2**30, 1)
            assert config.storage == "file"
            await bus.publish(2, b"kept", "id-1")
        changed = Settings(partitions=3, bus_retention_s=7200, bus_dedupe_window_s=60)
        async with await open_bus(url, changed, **names) as bus:
            assert isinstance(bus, NatsBus)
            info = await bus.js.stream_info(names["stream"])
            assert (info.config.max_age, info.config.duplicate_window) == (7200, 60)
            assert info.config.max_bytes == -1  # 0: no limit
            assert info.state.messages == 1  # an update keeps what the stream holds

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(delete_stream(url, names["stream"]))


def test_unacknowledged_batches_offered_again_are_not_handed_out_twice() -> None:
    url = require_nats()
    names = isolated()

    async def scenario() -> None:
        async with await NatsBus.connect(url, ack_wait_s=0.5, **names) as bus:
            seqs = [(await bus.publish(0, b"x", f"id-{i}")).seq for i in range(5)]
            sub = await bus.consume(0, after_seq=0)
            seen = [d.seq for d in await fetch_n(sub, 5)]
            # Not acknowledged: after ack_wait JetStream offers 1..5 again on a later pull.
            more = 0

            async def redelivered() -> int:
                info = await bus.js.consumer_info(names["stream"], "aggregate-0")
                return int(info.num_redelivered or 0)

            deadline = time.monotonic() + 20
            while await redelivered() == 0:
                assert time.monotonic() < deadline, "JetStream never redelivered"
                seqs.append((await bus.publish(0, b"y", f"more-{more}")).seq)
                more += 1
                seen += [d.seq for d in await sub.fetch(10, 0.5)]
            seen += [d.seq for d in await sub.fetch(100, 0.5)]
            assert seen == seqs  # each once, in order, redeliveries dropped

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(delete_stream(url, names["stream"]))


def test_deliveries_the_client_dropped_are_read_again_before_anything_after_them(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """nats-py drops what arrives while a subscription holds more than its pending limit
    (a "slow consumer", only reported). Handing out what came after a dropped batch would
    lose it: acknowledging "all" through a later one covers it. Here the limit is below
    two batches, so a pull of many loses most of them on the way in."""
    url = require_nats()
    names = isolated()
    size = 20_000
    monkeypatch.setattr(nats_bus, "PENDING_BYTES_LIMIT", size * 3 // 2)

    async def scenario() -> None:
        async with await NatsBus.connect(url, **names) as bus:
            seqs = [(await bus.publish(0, bytes([i]) * size, f"id-{i}")).seq for i in range(10)]
            sub = await bus.consume(0, after_seq=0)
            seen = []
            deadline = time.monotonic() + 60
            while len(seen) < len(seqs):
                assert time.monotonic() < deadline, f"only {len(seen)} of {len(seqs)} came"
                got = await sub.fetch(5, 0.5)
                seen += [(d.seq, d.payload) for d in got]
                if got:
                    await sub.ack_through(got[-1].seq)
            assert seen == [(seq, bytes([i]) * size) for i, seq in enumerate(seqs)]
            assert await sub.lag() == 0

    try:
        with caplog.at_level(logging.WARNING, logger=nats_bus.__name__):
            asyncio.run(scenario())
    finally:
        asyncio.run(delete_stream(url, names["stream"]))
    assert any("reading again" in r.getMessage() for r in caplog.records), "nothing dropped"


def test_a_server_with_a_larger_max_payload_carries_larger_batches(tmp_path: Path) -> None:
    server = NatsServer(tmp_path, max_payload=4 * 2**20)
    server.start()

    async def scenario() -> None:
        async with await NatsBus.connect(server.url) as bus:
            assert bus.max_payload == 4 * 2**20 - 1024
            big = b"\x01\x02\x03" * 1_000_000  # 3 MB
            published = await bus.publish(0, big, "big")
            got = await fetch_n(await bus.consume(0, after_seq=0), 1)
            assert [(d.seq, d.payload) for d in got] == [(published.seq, big)]

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_no_server_is_bus_unavailable() -> None:
    async def scenario() -> None:
        nowhere = f"nats://127.0.0.1:{free_port()}"
        start = time.monotonic()
        with pytest.raises(BusUnavailable):
            await NatsBus.connect(nowhere, connect_timeout_s=1.0)
        assert time.monotonic() - start < 10

    asyncio.run(scenario())


def test_publish_while_the_server_is_down_is_bus_unavailable(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)
    server.start()

    async def scenario() -> None:
        async with await NatsBus.connect(server.url, publish_timeout_s=0.5) as bus:
            await bus.publish(0, b"before", "id-0")
            await asyncio.to_thread(server.stop)
            with pytest.raises(BusUnavailable):
                await bus.publish(0, b"during", "id-1")
            sub_error = None
            try:
                await bus.consume(0, after_seq=0)
            except BusUnavailable as exc:
                sub_error = exc
            assert sub_error is not None

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_server_list_splits_the_url() -> None:
    assert server_list(" nats://a:4222, nats://b:4222 ,") == ["nats://a:4222", "nats://b:4222"]
    with pytest.raises(ValueError):
        server_list(" , ")
