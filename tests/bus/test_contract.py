"""The share bus contract, run unchanged against every backend (in-memory and NATS JetStream).

Each test is one ``asyncio.run`` of a scenario; ``open_test_bus`` (tests/bus/conftest.py)
gives a fresh bus of the parameter's kind.
"""

from __future__ import annotations

import asyncio

import pytest

from poolstats.bus import Published
from tests.bus.conftest import OpenBus
from tests.bus.contract import fetch_n


def payload(i: int) -> bytes:
    return f"batch-{i}".encode()


def test_batches_come_in_publish_order_with_their_sequences(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus() as bus:
            published = [await bus.publish(0, payload(i), f"id-{i}") for i in range(25)]
            assert all(not p.duplicate for p in published)
            seqs = [p.seq for p in published]
            assert seqs == sorted(set(seqs)) and seqs[0] >= 1
            sub = await bus.consume(0, after_seq=0)
            got = await fetch_n(sub, 25)
            assert [d.seq for d in got] == seqs
            assert [d.payload for d in got] == [payload(i) for i in range(25)]
            assert [d.msg_id for d in got] == [f"id-{i}" for i in range(25)]
            assert {d.partition for d in got} == {0}

    asyncio.run(scenario())


def test_consume_after_a_sequence_resumes_right_after_it(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus() as bus:
            seqs = [(await bus.publish(0, payload(i), f"id-{i}")).seq for i in range(10)]
            sub = await bus.consume(0, after_seq=seqs[3])
            got = await fetch_n(sub, 6)
            assert [d.payload for d in got] == [payload(i) for i in range(4, 10)]
            # A restarted aggregator that recorded seqs[7] as applied gets only 8 and 9.
            await sub.close()
            again = await bus.consume(0, after_seq=seqs[7])
            assert [d.seq for d in await fetch_n(again, 2)] == seqs[8:]
            # And one that applied everything gets nothing, and later batches only.
            last = await bus.consume(0, after_seq=seqs[-1])
            assert await last.fetch(10, 0.3) == []
            new = await bus.publish(0, b"later", "id-later")
            assert [(d.seq, d.payload) for d in await fetch_n(last, 1)] == [(new.seq, b"later")]

    asyncio.run(scenario())


def test_same_msg_id_is_stored_once(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus(partitions=2) as bus:
            first = await bus.publish(1, b"one", "batch-a")
            again = await bus.publish(1, b"one", "batch-a")  # a producer's retry
            other = await bus.publish(1, b"two", "batch-b")
            assert again == Published(first.seq, True)
            assert not first.duplicate and not other.duplicate and other.seq > first.seq
            sub = await bus.consume(1, after_seq=0)
            got = await fetch_n(sub, 2)
            assert [(d.msg_id, d.payload) for d in got] == [
                ("batch-a", b"one"),
                ("batch-b", b"two"),
            ]

    asyncio.run(scenario())


def test_ack_through_lowers_the_lag(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus() as bus:
            seqs = [(await bus.publish(0, payload(i), f"id-{i}")).seq for i in range(10)]
            sub = await bus.consume(0, after_seq=0)
            assert await sub.lag() == 10
            got = await fetch_n(sub, 10)
            assert await sub.lag() == 10  # handed out is not acknowledged
            await sub.ack_through(got[3].seq)
            assert await sub.lag() == 6
            await sub.ack_through(got[2].seq)  # an older acknowledgement changes nothing
            assert await sub.lag() == 6
            await bus.publish(0, b"more", "id-more")
            assert await sub.lag() == 7
            await sub.ack_through(seqs[-1])
            assert await sub.lag() == 1
            more = await fetch_n(sub, 1)
            await sub.ack_through(more[0].seq)
            assert await sub.lag() == 0

    asyncio.run(scenario())


def test_consume_counts_what_it_starts_after_as_done(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus() as bus:
            seqs = [(await bus.publish(0, payload(i), f"id-{i}")).seq for i in range(8)]
            sub = await bus.consume(0, after_seq=seqs[4])
            assert await sub.lag() == 3

    asyncio.run(scenario())


def test_partitions_are_independent(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus(partitions=4) as bus:
            expected: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(4)}
            for i in range(40):
                p = (i * 7) % 4
                published = await bus.publish(p, payload(i), f"id-{i}")
                expected[p].append((published.seq, payload(i)))
            subs = {p: await bus.consume(p, after_seq=0) for p in range(4)}
            for p in range(4):
                got = await fetch_n(subs[p], len(expected[p]))
                assert [(d.seq, d.payload) for d in got] == expected[p]
                assert {d.partition for d in got} == {p}
            await subs[1].ack_through(expected[1][-1][0])
            assert [await subs[p].lag() for p in range(4)] == [10, 0, 10, 10]

    asyncio.run(scenario())


def test_fetch_waits_for_a_batch_published_meanwhile(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus() as bus:
            sub = await bus.consume(0, after_seq=0)
            assert await sub.fetch(5, 0.2) == []
            waiting = asyncio.create_task(sub.fetch(5, 10.0))
            await asyncio.sleep(0.1)  # not synchronisation: lets the fetch start waiting first
            published = await bus.publish(0, b"late", "id-late")
            got = await asyncio.wait_for(waiting, 10.0)
            assert [(d.seq, d.payload) for d in got] == [(published.seq, b"late")]

    asyncio.run(scenario())


def test_a_fetch_that_may_not_wait_answers_without_failing(open_test_bus: OpenBus) -> None:
    """Timeout 0 is what a caller past its deadline asks for (an aggregator late for its
    flush): what is there, or nothing, never an error."""

    async def scenario() -> None:
        async with await open_test_bus() as bus:
            sub = await bus.consume(0, after_seq=0)
            assert await sub.fetch(5, 0.0) == []
            published = await bus.publish(0, b"ready", "id-ready")
            got = await sub.fetch(5, 0.0)
            deadline = asyncio.get_running_loop().time() + 10
            while not got and asyncio.get_running_loop().time() < deadline:
                got = await sub.fetch(5, 0.0)
            assert [(d.seq, d.payload) for d in got] == [(published.seq, b"ready")]

    asyncio.run(scenario())


def test_payloads_up_to_the_limit_travel_whole(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus() as bus:
            assert bus.max_payload >= 1_000_000  # a 1 MB batch fits (NATS's default 1 MiB)
            big = bytes(range(256)) * (bus.max_payload // 256) + b"x" * (bus.max_payload % 256)
            assert len(big) == bus.max_payload
            mb = b"\x07" * 1_000_000
            await bus.publish(0, big, "big")
            await bus.publish(0, mb, "mb")
            with pytest.raises(ValueError):
                await bus.publish(0, big + b"!", "too-big")
            got = await fetch_n(await bus.consume(0, after_seq=0), 2)
            assert [d.payload for d in got] == [big, mb]

    asyncio.run(scenario())


def test_a_partition_out_of_range_is_refused(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus(partitions=2) as bus:
            for bad in (-1, 2):
                with pytest.raises(ValueError):
                    await bus.publish(bad, b"x", "id")
                with pytest.raises(ValueError):
                    await bus.consume(bad, after_seq=0)

    asyncio.run(scenario())


def test_last_seq_is_where_a_new_partition_owner_starts(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus(partitions=3) as bus:
            assert await bus.last_seq() == 0
            await bus.publish(2, b"old era", "old")  # partition 2 used before a change
            last = (await bus.publish(0, b"p0", "p0")).seq
            assert await bus.last_seq() == last
            sub = await bus.consume(2, after_seq=await bus.last_seq())
            assert await sub.fetch(10, 0.3) == []
            assert await sub.lag() == 0
            new = await bus.publish(2, b"new era", "new")
            assert [(d.seq, d.payload) for d in await fetch_n(sub, 1)] == [(new.seq, b"new era")]

    asyncio.run(scenario())


def test_only_what_was_handed_out_can_be_acknowledged(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus() as bus:
            seqs = [(await bus.publish(0, payload(i), f"id-{i}")).seq for i in range(6)]
            sub = await bus.consume(0, after_seq=0)
            await sub.ack_through(seqs[-1])  # nothing fetched yet: acknowledges nothing
            assert await sub.lag() == 6
            got = await sub.fetch(2, 5.0)
            assert [d.seq for d in got] == seqs[:2]
            await sub.ack_through(seqs[-1])  # only the two handed out
            assert await sub.lag() == 4

    asyncio.run(scenario())


def test_followers_read_without_touching_the_consumer(open_test_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with await open_test_bus() as bus:
            seqs = [(await bus.publish(0, payload(i), f"id-{i}")).seq for i in range(6)]
            sub = await bus.consume(0, after_seq=0)
            early = await bus.follow(0, after_seq=0)
            late = await bus.follow(0, after_seq=seqs[3])
            assert [d.seq for d in await fetch_n(early, 6)] == seqs
            assert [d.payload for d in await fetch_n(late, 2)] == [payload(4), payload(5)]
            await early.ack_through(seqs[-1])  # a follower acknowledges nothing
            assert await sub.lag() == 6
            got = await fetch_n(sub, 6)  # the consumer still gets every batch, once
            assert [d.seq for d in got] == seqs
            await sub.ack_through(seqs[2])
            assert await sub.lag() == 3
            new = await bus.publish(0, b"later", "id-later")
            assert [d.seq for d in await fetch_n(early, 1)] == [new.seq]
            assert [d.seq for d in await fetch_n(late, 1)] == [new.seq]
            await early.close()
            await late.close()
            assert [d.seq for d in await fetch_n(sub, 1)] == [new.seq]

    asyncio.run(scenario())
