"""The blocks table: a block is recorded when sent and again with the node's verdict."""

from __future__ import annotations

import dataclasses

from poolstats.domain.found_block import BlockStatus, FoundBlock
from poolstats.store import SqliteStore
from poolstats.store.blocks import BlockStore
from tests.store.helpers import NOW, raw

SENT = FoundBlock(840_000, "00" * 4 + "ab" * 28, 7, "rig.1", 312_512_345, NOW)


def rows(store: SqliteStore) -> list[tuple[object, ...]]:
    with raw(store) as db:
        found = db.execute(
            "SELECT height, hash, puid, worker, reward_sat, found_at, status, reason, updated_at "
            "FROM blocks ORDER BY id"
        ).fetchall()
    return [tuple(r) for r in found]


def test_a_verdict_updates_the_block_sent_and_is_final(store: SqliteStore) -> None:
    blocks = BlockStore(store)
    assert blocks.record(SENT, NOW) is True
    # the same block again without news (a retry's record): stored once, no change
    assert (
        blocks.record(dataclasses.replace(SENT, reason="not sent: ConnectError"), NOW + 1) is False
    )
    accepted = dataclasses.replace(SENT, status=BlockStatus.ACCEPTED, reason="")
    assert blocks.record(accepted, NOW + 2) is True
    late = dataclasses.replace(SENT, status=BlockStatus.REJECTED, reason="duplicate-invalid")
    assert blocks.record(late, NOW + 3) is False
    assert blocks.record(SENT, NOW + 4) is False
    assert rows(store) == [
        (840_000, SENT.hash, 7, "rig.1", 312_512_345, NOW, "accepted", "", NOW + 2)
    ]
    assert blocks.page(0, 10) == (1, [accepted])


def test_pages_are_newest_first(store: SqliteStore) -> None:
    blocks = BlockStore(store)
    found = [
        dataclasses.replace(SENT, height=SENT.height + i, hash=f"{i:064x}", found_at=NOW + i)
        for i in range(5)
    ]
    for block in found[::2] + found[1::2]:  # recorded out of order
        blocks.record(block, NOW)
    assert blocks.page(0, 2) == (5, [found[4], found[3]])
    assert blocks.page(2, 2) == (5, [found[2], found[1]])
    assert blocks.page(4, 2) == (5, [found[0]])
    assert blocks.page(6, 2) == (5, [])
