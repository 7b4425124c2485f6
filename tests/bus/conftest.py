"""The backends the bus contract runs against, each a factory of fresh, isolated buses.

A NATS bus of a test gets a stream and a subject prefix of its own on the shared server
(``tests.services.require_nats``), deleted afterwards, so tests neither see each other's
batches nor depend on the order they run in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest

from poolstats.bus import Bus, MemoryBus
from tests.services import require_nats

OpenBus = Callable[..., Awaitable[Bus]]


def isolated(tag: str | None = None) -> dict[str, str]:
    """A stream name and subject prefix no other test uses."""
    tag = tag or uuid.uuid4().hex[:12]
    return {"stream": f"T_{tag}", "prefix": f"t{tag}.shares"}


async def delete_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


@pytest.fixture(params=["memory", "nats"])
def open_test_bus(request: pytest.FixtureRequest) -> Iterator[OpenBus]:
    """``await open_test_bus(partitions=N, **options)``: a new bus of the parameter's kind."""
    if request.param == "memory":

        async def open_memory(partitions: int = 1, **options: object) -> Bus:
            return MemoryBus(partitions=partitions, **options)  # type: ignore[arg-type]

        yield open_memory
        return

    from poolstats.bus.nats import NatsBus

    url = require_nats()
    names = isolated()

    async def open_nats(partitions: int = 1, **options: object) -> Bus:
        return await NatsBus.connect(url, partitions=partitions, **names, **options)  # type: ignore[arg-type]

    yield open_nats
    asyncio.run(delete_stream(url, names["stream"]))
