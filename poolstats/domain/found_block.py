"""A block the pool found, and what the node's ``submitblock`` answer says about it.

A block is recorded ``submitted`` as soon as it is sent, then ``accepted`` or ``rejected``
once the node answers. It stays ``submitted`` while nothing is known: every attempt to send
it failed, or the node kept it without deciding (BIP 22's ``inconclusive``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_REASON = 200  # a node's reason is a short code ("high-hash"); longer text is cut


class BlockStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class FoundBlock:
    """``hash`` as explorers show it; ``reward_sat`` what the coinbase pays (subsidy and
    fees); ``found_at`` unix seconds; ``puid``/``worker`` the finder."""

    height: int
    hash: str
    puid: int
    worker: str
    reward_sat: int
    found_at: int
    status: BlockStatus = BlockStatus.SUBMITTED
    reason: str = ""


def verdict(answer: object) -> tuple[BlockStatus, str]:
    """(status, reason) from ``submitblock``'s result (BIP 22): null is accepted,
    ``duplicate`` means the node has the block already (a retry whose first try arrived),
    ``inconclusive`` means it is kept but not judged; any other text is the reason it was
    rejected."""
    if answer is None:
        return BlockStatus.ACCEPTED, ""
    if not isinstance(answer, str):
        return BlockStatus.SUBMITTED, f"unexpected answer {answer!r}"[:MAX_REASON]
    if answer == "duplicate":
        return BlockStatus.ACCEPTED, answer
    if answer in ("inconclusive", "duplicate-inconclusive"):
        return BlockStatus.SUBMITTED, answer
    return BlockStatus.REJECTED, answer[:MAX_REASON] or "rejected without a reason"
