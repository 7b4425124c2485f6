"""Ring buffers of fixed-width time slots: the trailing windows (1m ... 1d) of many rows.

One ``Rings`` holds ``n`` slots of ``res_s`` seconds for each of its fields, slot-major
(``data[field][slot, row]``), so that retiring a slot for every row at once is one
contiguous fill. A window of W seconds is the sum of the newest W/res_s slots, the
current (partial) slot included, as BTC.COM's StatsWindow did.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Array = npt.NDArray[np.floating]  # type: ignore[type-arg]


class Rings:
    def __init__(
        self,
        res_s: int,
        n: int,
        fields: Iterable[str],
        dtype: type[np.floating],  # type: ignore[type-arg]
        capacity: int,
    ) -> None:
        self.res_s = res_s
        self.n = n
        self.dtype = dtype
        self.data: dict[str, Array] = {f: np.zeros((n, capacity), dtype) for f in fields}
        self.head = -1  # absolute index (unix seconds // res_s) of the newest slot

    @property
    def span_s(self) -> int:
        return self.res_s * self.n

    @property
    def capacity(self) -> int:
        return next(iter(self.data.values())).shape[1]

    def grow(self, capacity: int) -> None:
        for field, old in self.data.items():
            new = np.zeros((self.n, capacity), self.dtype)
            new[:, : old.shape[1]] = old
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
            array[slots] = 0
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
            slots = [(self.head - i) % self.n for i in range(k)]
            return array[np.ix_(slots, rows)].sum(axis=0, dtype=np.float64)
        # Most rows: sum contiguous slot ranges (no copy), then pick.
        if first <= last:
            total = array[first : last + 1].sum(axis=0, dtype=np.float64)
        else:
            total = array[first:].sum(axis=0, dtype=np.float64)
            total += array[: last + 1].sum(axis=0, dtype=np.float64)
        return total if rows is None else total[rows]

    def clear(self, rows: I64) -> None:
        for array in self.data.values():
            array[:, rows] = 0


def scatter_add(target: npt.NDArray[np.generic], flat: I64, values: npt.ArrayLike) -> None:
    """``target[flat] += values`` with repeated indices summed.

    ``np.bincount`` beats ``np.add.at`` when the target is small next to the batch (pools,
    sub-accounts); big sparse targets (workers) take ``np.add.at``.
    """
    if target.size <= 2 * len(flat):
        summed = np.bincount(flat, weights=values, minlength=target.size)
        target += summed.astype(target.dtype, copy=False)
    else:
        np.add.at(target, flat, np.asarray(values, dtype=target.dtype))
