"""A pool's luck: blocks found over blocks expected for the work it did.

Each accepted share of difficulty ``d`` finds a block with probability ``d / D`` at network
difficulty ``D`` (both count 2**32 hashes as difficulty 1), so a day's accepted work ``W``
is expected to find ``W`` times the day's time-weighted mean of ``1 / D`` blocks (exact for
a steady hashrate). Luck above 1 means more blocks than expected. Served by BTC.COM's
``/v1/blocks`` (over the pool's kept days) and Tangpool's ``/pool/lucky/`` (per day).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction


def mean_inverse_difficulty(
    entries: Sequence[tuple[int, str]], start: int, stop: int
) -> Fraction | None:
    """The time-weighted mean of ``1 / difficulty`` over ``[start, stop)``, from network
    entries ``(at, decimal difficulty)`` in ``at`` order, each in force until the next; or
    ``None`` where part of the stretch has no entry in force (its difficulty is unknown)."""
    if stop <= start:
        raise ValueError(f"stop: {stop} is not after start {start}")
    total, covered = Fraction(0), 0
    for i, (at, difficulty) in enumerate(entries):
        until = entries[i + 1][0] if i + 1 < len(entries) else stop
        lo, hi = max(at, start), min(until, stop)
        if hi > lo:
            total += Fraction(hi - lo) / Fraction(difficulty)
            covered += hi - lo
    return total / (stop - start) if covered == stop - start else None


def expected_blocks(accepted: float, inverse_difficulty: Fraction) -> Fraction:
    """Blocks ``accepted`` difficulty was expected to find at that mean ``1 / difficulty``."""
    if accepted < 0:
        raise ValueError(f"accepted: {accepted} is negative")
    return Fraction(accepted) * inverse_difficulty


def luck(found: int, expected: Fraction) -> float | None:
    """``found / expected``, or ``None`` before any work was expected to find a block."""
    if found < 0:
        raise ValueError(f"found: {found} blocks is negative")
    return float(found / expected) if expected > 0 else None
