"""Ring buffers of fixed-width time slots: the trailing windows (1m ... 1d) of many rows.

One ``Rings`` holds ``n`` slots of ``res_s`` seconds for each of its fields, slot-major
(``data[field][slot, row]``), so that retiring a slot for every row at once is one
contiguous fill. A window of W seconds is the sum of the newest W/res_s slots, the
current (partial) slot included, as BTC.COM's StatsWindow did.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from poolstats.domain.arrays import F64, I64

Array = npt.NDArray[np.floating[Any]]
LAZY_MIN_BYTES = 1 << 20


class Rings:
    def __init__(
        self,
        res_s: int,
        n: int,
        fields: Iterable[str],
        dtype: type[np.floating[Any]],
        capacity: int,
    ) -> None:
        self.res_s = res_s
        self.n = n
        self.dtype = dtype
        self.data: dict[str, Array] = {f: lazy_zeros((n, capacity), dtype) for f in fields}
        self.head = -1  # absolute index (unix seconds // res_s) of the newest slot
        # Rows below ``used`` are the only ones ever touched: the capacity beyond stays
        # untouched zero pages of virtual memory, so spare capacity costs no RSS.
        self.used = 0

    @property
    def span_s(self) -> int:
        return self.res_s * self.n

    @property
    def capacity(self) -> int:
        return int(next(iter(self.data.values())).shape[1])

    def grow(self, capacity: int) -> None:
        for field, old in self.data.items():
            new = lazy_zeros((self.n, capacity), self.dtype)
            new[:, : self.used] = old[:, : self.used]
            self.data[field] = new

    def rotate(self, now: float) -> None:
        """Move the head to ``now``, zeroing the slots that fell out of the ring."""
        new = int(now // self.res_s)
        if self.head < 0:
            self.head = new
            return
        if new <= self.head:
            return
        steps = min(new - self.head, self.n)
        slots = [(self.head + 1 + i) % self.n for i in range(steps)]
        for array in self.data.values():
            array[slots, : self.used] = 0
        self.head = new

    def add(self, field: str, rows: I64, ts: F64, values: F64, span: tuple[float, float]) -> None:
        """Add ``values`` at ``ts`` (all <= the head's time; ``span`` = their min and max).

        A batch usually falls in one slot, which is one scatter into one contiguous row;
        shares older than the ring are left out (they only count in history).
        """
        if not len(rows):
            return
        first, last = int(span[0] // self.res_s), int(span[1] // self.res_s)
        oldest = self.head - self.n + 1
        array = self.data[field]
        if first == last:
            if first >= oldest:
                scatter_add(array[first % self.n], rows, values)
            return
        if last < oldest:
            return
        idx = (ts // self.res_s).astype(np.int64)
        if first < oldest:
            keep = idx >= oldest
            rows, idx, values = rows[keep], idx[keep], values[keep]
        flat = (idx % self.n) * array.shape[1] + rows
        scatter_add(array.reshape(-1), flat, values)

    def window(self, field: str, seconds: int, rows: I64 | None = None) -> F64:
        """Sum of the newest ``seconds // res_s`` slots per row, as float64."""
        k = seconds // self.res_s
        first = (self.head - k + 1) % self.n
        last = self.head % self.n
        array = self.data[field]
        if rows is not None and len(rows) * 8 <= array.shape[1]:  # few rows: gather them
            slots = np.array([(self.head - i) % self.n for i in range(k)], np.int64)
            picked: F64 = array[np.ix_(slots, rows)].sum(axis=0, dtype=np.float64)
            return picked
        # Most rows: sum contiguous slot ranges (no copy), then pick.
        used = array[:, : self.used]
        if first <= last:
            total = used[first : last + 1].sum(axis=0, dtype=np.float64)
        else:
            total = used[first:].sum(axis=0, dtype=np.float64)
            total += used[: last + 1].sum(axis=0, dtype=np.float64)
        result: F64 = total if rows is None else total[rows]
        return result

    def windows(self, field: str, seconds: list[int], rows: I64 | None = None) -> list[F64]:
        """``window`` for several lengths, each longer one built on the shorter one's sum
        (the 15m of a million workers adds 60 slots to the 5m, not 90: a quarter less work
        per drain)."""
        array = self.data[field]
        if rows is not None and len(rows) * 8 <= array.shape[1]:
            return [self.window(field, s, rows) for s in seconds]
        used = array[:, : self.used]
        total = np.zeros(used.shape[1], np.float64)
        done = 0  # newest slots summed so far
        out: dict[int, F64] = {}
        for s in sorted(seconds):
            k = s // self.res_s
            if k > done:
                lo, hi = (self.head - k + 1) % self.n, (self.head - done) % self.n
                if lo <= hi:
                    total += used[lo : hi + 1].sum(axis=0, dtype=np.float64)
                else:
                    total += used[lo:].sum(axis=0, dtype=np.float64)
                    total += used[: hi + 1].sum(axis=0, dtype=np.float64)
                done = k
            out[s] = total.copy() if rows is None else total[rows]
        return [out[s] for s in seconds]

    def clear(self, rows: I64) -> None:
        for array in self.data.values():
            array[:, rows] = 0


def lazy_zeros(shape: int | tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """A zeroed array whose pages cost memory only once written.

    Anonymous mmap is zero-filled lazily by the kernel, so the spare capacity of the engine's
    arrays (grown by 25 % at a time) is free until used; np.zeros of a few MB may come from
    the heap, where calloc writes every page.
    """
    dt = np.dtype(dtype)
    count = int(np.prod(shape))
    if count * dt.itemsize < LAZY_MIN_BYTES:
        return np.zeros(shape, dt)
    buffer = mmap.mmap(-1, count * dt.itemsize)
    return np.frombuffer(buffer, dtype=dt, count=count).reshape(shape)


def scatter_add(target: npt.NDArray[np.generic], flat: I64, values: npt.ArrayLike) -> None:
    """``target[flat] += values`` with repeated indices summed.

    ``np.bincount`` beats ``np.add.at`` when the target is small next to the batch (pools,
    sub-accounts); big sparse targets (workers) take ``np.add.at``.
    """
    if target.size <= 2 * len(flat):
        summed = np.bincount(flat, weights=values, minlength=target.size)
        np.add(target, summed, out=target, casting="unsafe")
    else:
        np.add.at(target, flat, np.asarray(values, dtype=target.dtype))
