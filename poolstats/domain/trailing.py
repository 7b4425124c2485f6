"""Trailing windows: which shares a window of W seconds counts, and how a time slot that the
window's start cuts through is split.

A window of W seconds at ``now`` counts the shares with ``now - W < ts <= now``. Shares are
summed into fixed slots; every slot newer than the one holding ``now - W`` lies wholly
inside the window. The cut slot lies partly inside, and a sum alone cannot say how much of
it: a slot holding one share (one share every 10 s) is either all in or all out, whereas
ten shares a second apart are split in proportion. So each slot also keeps how many shares
it holds and the sum of their offsets from the slot start, in whole milliseconds rounded up
(a share at 0.2 ms counts at 1 ms: the window's start being excluded, a share at a cut on
the millisecond is out, one just after it in). From that count n and mean offset the slot's
shares are laid out evenly, n points spaced ``width / n`` apart about the mean, the spacing
narrowed where the mean lies nearer an edge of the slot than half that spread (a miner that
started or stopped within the slot). That layout is exact for any miner sending shares at a
constant rate whose period divides the slot width, whatever its phase (one a second, one
every 10 s in a slot of 60 s). For an irregular stream only the shares of that one slot can
be misplaced, and by less than the slot's width.
"""

from __future__ import annotations

import math

import numpy as np

from poolstats.domain.arrays import F64

MS = 1000.0  # the offsets' unit: a millisecond


def offsets_ms(ts: F64, start: F64 | float) -> F64:
    """Offsets of shares from their slot's start in whole milliseconds, rounded up: a share
    at ``start + 0.0002`` counts at 1 ms, so it is after a cut at ``start`` and a share at
    exactly ``start`` is not."""
    offsets: F64 = np.ceil((ts - start) * MS)
    return offsets


def later_part(count: F64, offset_sum_ms: F64, width_s: float, cut_ms: float) -> F64:
    """How many of each slot's ``count`` shares lie after ``cut_ms`` (milliseconds from the
    slot start), a float between 0 and ``count``; ``offset_sum_ms`` is the sum of their
    ``offsets_ms``.

    The shares are laid out evenly about their mean offset (module docstring); each one
    stands for the millisecond that ends at its offset, so a cut inside that millisecond
    takes the part of it after the cut (only possible when ``now`` is not a whole
    millisecond).
    """
    width = width_s * MS
    n = np.maximum(count, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.clip(offset_sum_ms / n, 0.0, width)
        room = np.where(n > 1, 2 * np.minimum(mean, width - mean) / (n - 1), np.inf)
        gap = np.minimum(width / n, room)  # between neighbouring shares
        newest = mean + (n - 1) / 2 * gap
        ahead = newest - cut_ms  # the newest share's distance after the cut
        # gaps of a millisecond or more: whole shares, and at most one inside its millisecond
        whole = np.clip(np.floor((ahead - 1.0) / gap) + 1, 0, n)
        part = np.where(whole < n, np.clip(ahead - whole * gap, 0.0, 1.0), 0.0)
        sparse = whole + part
        # denser than one share a millisecond: the shares fill their span evenly
        dense = np.where(gap > 0, np.clip(ahead / gap, 0.0, n), n * np.clip(ahead, 0.0, 1.0))
    result: F64 = np.where(count > 0, np.where(gap >= 1.0, sparse, dense), 0.0)
    return result


def later_count(count: float, offset_sum_ms: float, width_s: float, cut_ms: float) -> float:
    """``later_part`` of one slot, in plain floats: the API reads one worker's windows at a
    time, where numpy's cost per call would outweigh the arithmetic."""
    if count <= 0:
        return 0.0
    width = width_s * MS
    mean = min(max(offset_sum_ms / count, 0.0), width)
    gap = width / count
    if count > 1:
        gap = min(gap, 2 * min(mean, width - mean) / (count - 1))
    ahead = mean + (count - 1) / 2 * gap - cut_ms
    if gap >= 1.0:
        whole = min(max(math.floor((ahead - 1.0) / gap) + 1, 0), count)
        return whole + (min(max(ahead - whole * gap, 0.0), 1.0) if whole < count else 0.0)
    if gap > 0:
        return min(max(ahead / gap, 0.0), count)
    return count * min(max(ahead, 0.0), 1.0)
