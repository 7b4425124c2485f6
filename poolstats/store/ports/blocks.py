"""The blocks port: the blocks the pool found and what bitcoind said of each.

Stratum records them as it submits them, the API pages them; ``store.blocks.BlockStore``
implements it over any ``UnitOfWork``.
"""

from __future__ import annotations

from typing import Protocol

from poolstats.domain.found_block import FoundBlock


class BlocksPort(Protocol):
    """Found blocks, newest first."""

    def record(self, block: FoundBlock, now: int) -> bool:
        """Add the block, or give the one with its hash its new status and reason; ``True``
        if its status changed (a new block counts as one)."""
        ...

    def page(self, offset: int, limit: int) -> tuple[int, list[FoundBlock]]:
        """(blocks in all, a page of them, newest first)."""
        ...
