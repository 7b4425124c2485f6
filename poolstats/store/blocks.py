"""The blocks the pool found, on the SQLite store: recorded by the stratum job source, listed
by ``GET /v1/pool/blocks`` and ``poolstats blocks``.

A block is written twice: ``submitted`` when it is sent, then with the node's verdict. Rows
are keyed by the block hash, so recording the same block again updates it; a verdict is
final (a late ``submitted`` never overwrites ``accepted`` or ``rejected``). Writes go through
the store's single writer; reads use its snapshot readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from poolstats.domain.found_block import BlockStatus, FoundBlock
from poolstats.store import schema
from poolstats.store.ports.unit_of_work import UnitOfWork

_b = schema.blocks


class BlockStore:
    """The ``blocks`` table of one store (see the module docstring)."""

    def __init__(self, store: UnitOfWork) -> None:
        self._store = store

    def record(self, block: FoundBlock, now: int) -> bool:
        """Add the block, or give the one with its hash its new status and reason; ``True``
        if its status changed (a new block counts as one)."""
        values = {
            "height": block.height,
            "hash": block.hash,
            "puid": block.puid,
            "worker": block.worker,
            "reward_sat": block.reward_sat,
            "found_at": block.found_at,
            "status": block.status.value,
            "reason": block.reason,
            "updated_at": now,
        }
        with self._store.write() as conn:
            before = conn.execute(sa.select(_b.c.status).where(_b.c.hash == block.hash)).first()
            if before is None:
                conn.execute(sa.insert(_b).values(**values))
                return True
            if before.status != BlockStatus.SUBMITTED.value:
                return False  # a verdict is final
            conn.execute(
                sa.update(_b)
                .where(_b.c.hash == block.hash)
                .values(status=values["status"], reason=block.reason, updated_at=now)
            )
            return bool(before.status != block.status.value)

    def page(self, offset: int, limit: int, found: bool = False) -> tuple[int, list[FoundBlock]]:
        """(blocks in all, a page of them, newest first); ``found``: only those the network
        did not reject (accepted, or still waiting for a verdict)."""
        where = _b.c.status != BlockStatus.REJECTED.value if found else sa.true()
        with self._store.read() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(_b).where(where)
            ).scalar_one()
            rows = conn.execute(
                sa.select(_b)
                .where(where)
                .order_by(_b.c.found_at.desc(), _b.c.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return int(total), [_block(r) for r in rows]

    def found_totals(self) -> tuple[int, int]:
        """(blocks the network did not reject, their rewards in satoshis)."""
        with self._store.read() as conn:
            count, rewards = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_b.c.reward_sat), 0))
                .where(_b.c.status != BlockStatus.REJECTED.value)
            ).one()
            return int(count), int(rewards)


def _block(row: sa.Row[Any]) -> FoundBlock:
    r = row._mapping
    return FoundBlock(
        height=int(r["height"]),
        hash=str(r["hash"]),
        puid=int(r["puid"]),
        worker=str(r["worker"]),
        reward_sat=int(r["reward_sat"]),
        found_at=int(r["found_at"]),
        status=BlockStatus(r["status"]),
        reason=str(r["reason"]),
    )


if TYPE_CHECKING:
    from poolstats.store.ports.blocks import BlocksPort

    _conforms: type[BlocksPort] = BlockStore
