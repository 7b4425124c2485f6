"""The pool's luck as both dialects serve it (``domain.luck``): blocks the network accepted
over blocks expected from the pool's accepted work, day by UTC day, from the store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from poolstats.domain.earnings import SECONDS_PER_DAY
from poolstats.domain.found_block import BlockStatus
from poolstats.domain.luck import expected_blocks, mean_inverse_difficulty
from poolstats.engine.snapshot import Level
from poolstats.store.base import Store
from poolstats.store.blocks import BlockStore

_SCAN = 500  # blocks read at a time


@dataclass(frozen=True)
class LuckyDay:
    start: int  # 00:00 UTC
    found: int  # blocks the network accepted, found that day
    expected: Fraction  # blocks the day's accepted work was expected to find


def lucky_days(store: Store, first: int = 0, stop: int = 2**62) -> Iterator[LuckyDay]:
    """The days in ``[first, stop)`` of the pool's kept daily history with accepted work and a
    network difficulty known all day, in order; others are left out (nothing to weigh)."""
    days = [
        (int(r["start"]), float(r["accept"]))
        for r in store.history(Level.POOL, SECONDS_PER_DAY, 0, 0, first, stop)
        if float(r["accept"]) > 0
    ]
    if not days:
        return
    lo, hi = days[0][0], days[-1][0] + SECONDS_PER_DAY
    entries = [(int(e["at"]), str(e["difficulty"])) for e in store.network_history(lo, hi)]
    found = _accepted_per_day(BlockStore(store), lo, hi)
    for start, accepted in days:
        inverse = mean_inverse_difficulty(entries, start, start + SECONDS_PER_DAY)
        if inverse is not None:
            yield LuckyDay(start, found.get(start, 0), expected_blocks(accepted, inverse))


def _accepted_per_day(store: BlockStore, first: int, stop: int) -> dict[int, int]:
    """Accepted blocks found in ``[first, stop)`` per UTC day (pages read newest first)."""
    counts: dict[int, int] = {}
    offset = 0
    while True:
        _, page = store.page(offset, _SCAN)
        for b in page:
            if first <= b.found_at < stop and b.status is BlockStatus.ACCEPTED:
                day = b.found_at // SECONDS_PER_DAY * SECONDS_PER_DAY
                counts[day] = counts.get(day, 0) + 1
        if len(page) < _SCAN or page[-1].found_at < first:
            return counts
        offset += _SCAN
