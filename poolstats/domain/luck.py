"""A pool's luck: blocks found over blocks expected for the work it did.

Each accepted share of difficulty ``d`` finds a block with probability ``d / D`` at network
difficulty ``D`` (both count 2**32 hashes as difficulty 1), so the work of a stretch of time
is expected to find ``sum(d) / D`` blocks. Luck above 1 means more blocks than expected.
"""

from __future__ import annotations

from collections.abc import Iterable


def expected_blocks(work: Iterable[tuple[float, float]]) -> float:
    """Blocks expected from ``(accepted difficulty, network difficulty)`` pairs, one per
    stretch of time; a stretch without a known network difficulty (``<= 0``) adds none."""
    return sum(accepted / network for accepted, network in work if network > 0)


def luck(found: int, expected: float) -> float | None:
    """``found / expected``, or ``None`` before any work was expected to find a block."""
    if found < 0:
        raise ValueError(f"found: {found} blocks is negative")
    return found / expected if expected > 0 else None
