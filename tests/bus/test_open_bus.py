"""open_bus picks the backend bus_url names; the in-memory bus's dedupe window ends."""

from __future__ import annotations

import asyncio

import pytest

from poolstats.bus import MemoryBus, Published, open_bus
from poolstats.config import Settings


def test_an_empty_bus_url_is_the_in_process_bus() -> None:
    async def scenario() -> None:
        bus = await open_bus("", Settings(partitions=5, bus_dedupe_window_s=7))
        assert isinstance(bus, MemoryBus)
        assert (bus.partitions, bus.dedupe_window_s) == (5, 7)
        await bus.close()

    asyncio.run(scenario())


def test_bus_url_comes_from_the_environment() -> None:
    settings = Settings.from_env(
        {"POOLSTATS_BUS_URL": "nats://a:4222,nats://b:4222", "POOLSTATS_PARTITIONS": "8"}
    )
    assert (settings.bus_url, settings.partitions) == ("nats://a:4222,nats://b:4222", 8)
    assert (Settings().bus_url, Settings().partitions, Settings().bus_replicas) == ("", 1, 1)


@pytest.mark.parametrize("url", ["http://127.0.0.1:4222", "kafka://x", "nats://a,redis://b"])
def test_an_unknown_bus_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        asyncio.run(open_bus(url))


def test_the_memory_dedupe_window_ends() -> None:
    now = [1000.0]

    async def scenario() -> None:
        bus = MemoryBus(dedupe_window_s=120, clock=lambda: now[0])
        first = await bus.publish(0, b"a", "same")
        now[0] += 119.9
        assert await bus.publish(0, b"a", "same") == Published(first.seq, True)
        now[0] += 0.1  # 120 s after the first copy: a new batch
        again = await bus.publish(0, b"a", "same")
        assert again == Published(first.seq + 1, False)

    asyncio.run(scenario())
