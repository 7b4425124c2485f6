"""Ring buffers of fixed-width time slots: the trailing windows (1m ... 1d) of many rows.

One ``Rings`` holds ``n`` slots of ``res_s`` seconds for each of its fields, slot-major
(``data[field][slot, row]``), so that retiring a slot for every row at once is one
contiguous fill. Fields come in groups that share a timing: per slot and row, how many
shares the group's fields hold (``<group>_count``) and the sum of their offsets from the
slot start in milliseconds (``<group>_ms``), which is what splits the slot a window's start
cuts through (``poolstats.domain.trailing``). A window of W seconds is the newest W/res_s
slots, the current one included, plus the part of the slot before them later than
``now - W``: so a ring holds W/res_s + 1 slots for its longest window.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from poolstats.domain.arrays import F64, I64
from poolstats.domain.trailing import later_count, later_part, offsets_ms

Array = npt.NDArray[np.floating[Any]]
LAZY_MIN_BYTES = 1 << 20
FEW_ROWS = 8  # read in plain floats, one row at a time
#: (field, rows, ts, values) of one batch
Part = tuple[str, I64, F64, F64]
#: ``Sums.of`` sums a batch per row (a dense array) once it has at least one share for every
#: this many rows: one pass of the batch, then one pass of the rows per target, which beats
#: a scatter per target of a big batch (the same sums go to several rings and buckets).
DENSE_ROWS_PER_SHARE = 4


@dataclass(frozen=True)
class Sums:
    """A batch's values for one slot of many rows, ready to add to several targets.

    Dense (``rows`` is None): ``values[i]`` is row i's sum, for every row below
    ``len(values)``. Sparse: ``values`` add at ``rows``, which may repeat (a batch small next
    to the rows, where a pass over every row would cost more than the scatter).
    """

    rows: I64 | None
    values: F64

    @classmethod
    def of(cls, rows: I64, values: F64, size: int, per_share: int = DENSE_ROWS_PER_SHARE) -> Sums:
        """``values`` at ``rows`` (all below ``size``), dense when the batch is big enough."""
        if size <= per_share * len(rows):
            summed = np.bincount(rows, weights=values, minlength=size)  # float64 with weights
            return cls(None, summed.astype(np.float64, copy=False))
        return cls(rows, np.asarray(values, np.float64))

    @classmethod
    def counts(cls, rows: I64, size: int) -> Sums:
        """How many times each row appears in ``rows``."""
        if size <= DENSE_ROWS_PER_SHARE * len(rows):
            return cls(None, np.bincount(rows, minlength=size).astype(np.float64))
        return cls(rows, np.ones(len(rows)))

    def plus(self, per_count: float, counts: Sums) -> Sums:
        """These sums plus ``per_count`` for each count of ``counts`` (same rows)."""
        if not per_count:
            return self
        if self.rows is not None:  # one count per share
            return Sums(self.rows, self.values + per_count)
        return Sums(self.rows, self.values + per_count * counts.values)

    def add_to(self, target: npt.NDArray[np.generic]) -> None:
        if self.rows is None:
            head = target[: len(self.values)]
            np.add(head, self.values, out=head, casting="unsafe")
        else:
            np.add.at(target, self.rows, self.values.astype(target.dtype, copy=False))


def group_name(fields: Sequence[str]) -> str:
    return "_".join(fields)


class Rings:
    def __init__(
        self,
        res_s: int,
        n: int,
        groups: Iterable[Sequence[str]],
        dtype: type[np.floating[Any]],
        capacity: int,
    ) -> None:
        self.res_s = res_s
        self.n = n
        self.dtype = dtype
        self.group_of: dict[str, str] = {}
        names: list[str] = []
        for fields in groups:
            group = group_name(fields)
            for field in fields:
                self.group_of[field] = group
            names += [*fields, f"{group}_count", f"{group}_ms"]
        self.data: dict[str, Array] = {f: lazy_zeros((n, capacity), dtype) for f in names}
        self.head = -1  # absolute index (unix seconds // res_s) of the newest slot
        self.now = 0.0  # the time the windows are read at (``rotate``)
        # Rows below ``used`` are the only ones ever touched: the capacity beyond stays
        # untouched zero pages of virtual memory, so spare capacity costs no RSS.
        self.used = 0

    @property
    def fields(self) -> list[str]:
        return list(self.group_of)

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
        self.now = max(self.now, now)
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

    def add(self, parts: Sequence[Part], span: tuple[float, float]) -> None:
        """Add each part's ``values`` at its ``ts`` (all <= the head's time; ``span`` = their
        min and max) to its field, and every share to its group's timing.

        Shares older than the ring are left out (they only count in history). A batch within
        one slot of every ring is summed once for all of them (``Realtime.add``, ``add_sums``);
        this is the way of one across slots.
        """
        first = int(span[0] // self.res_s)
        oldest = self.head - self.n + 1
        if int(span[1] // self.res_s) < oldest:
            return
        timed: dict[str, list[tuple[I64, F64]]] = {}
        width = self.capacity
        for field, rows, ts, values in parts:
            if not len(rows):
                continue
            idx = (ts // self.res_s).astype(np.int64)
            if first < oldest:
                keep = idx >= oldest
                rows, idx, ts, values = rows[keep], idx[keep], ts[keep], values[keep]
            flat = (idx % self.n) * width + rows
            scatter_add(self.data[field].reshape(-1), flat, values)
            timed.setdefault(self.group_of[field], []).append((flat, ts - idx * self.res_s))
        for group, pieces in timed.items():
            flat, offsets = _joined(pieces)
            scatter_add(self.data[f"{group}_count"].reshape(-1), flat, np.ones(len(flat)))
            scatter_add(self.data[f"{group}_ms"].reshape(-1), flat, offsets_ms(offsets, 0.0))

    def add_sums(
        self,
        index: int,
        fields: Mapping[str, Sums],
        timings: Mapping[str, tuple[Sums, Sums]],
    ) -> None:
        """Add a batch that falls wholly in slot ``index`` (absolute, within the ring), already
        summed: each field's values, and per group (count, offsets in ms from the slot's
        start)."""
        slot = index % self.n
        for field, sums in fields.items():
            sums.add_to(self.data[field][slot])
        for group, (count, ms) in timings.items():
            count.add_to(self.data[f"{group}_count"][slot])
            ms.add_to(self.data[f"{group}_ms"][slot])

    def window(self, field: str, seconds: int, rows: I64 | None = None) -> F64:
        """The share values of (now - seconds, now] per row, as float64."""
        return self.windows([field], [seconds], rows)[field][0]

    def windows(
        self, fields: Sequence[str], seconds: list[int], rows: I64 | None = None
    ) -> dict[str, list[F64]]:
        """``window`` of each field for several lengths, each longer one built on the shorter
        one's sum of whole slots (the 15m of a million workers adds 10 slots to the 5m, not
        16), and the cut slot's split computed once for a group's fields."""
        if rows is not None and len(rows) <= FEW_ROWS:
            return self._few(fields, seconds, rows)
        out: dict[str, list[F64]] = {}
        splits: dict[tuple[str, int], tuple[I64, F64]] = {}
        for field in fields:
            whole = self._whole(field, seconds, rows)
            sums = []
            for s, total in zip(seconds, whole, strict=True):
                k = s // self.res_s
                group = self.group_of[field]
                if (group, k) not in splits:
                    splits[group, k] = self._split(group, k, s, rows)
                at, share = splits[group, k]
                if len(at):
                    values = self._slot(field, self.head - k, rows)[at]
                    total[at] += values * share
                sums.append(total)
            out[field] = sums
        return out

    def _few(self, fields: Sequence[str], seconds: list[int], rows: I64) -> dict[str, list[F64]]:
        """``windows`` of a few rows, in plain floats (each row's slots newest first)."""
        order = [(self.head - i) % self.n for i in range(self.n)]
        groups = {self.group_of[f] for f in fields}
        timings = [(g, f"{g}_count", f"{g}_ms") for g in groups]
        names = [*fields, *(name for _, count, ms in timings for name in (count, ms))]
        cuts = [
            (s // self.res_s, self.now - s - (self.head - s // self.res_s) * self.res_s)
            for s in seconds
        ]
        out: dict[str, list[list[float]]] = {f: [[] for _ in seconds] for f in fields}
        for row in rows.tolist():
            slots = {}
            for name in names:
                column = self.data[name][:, row].tolist()
                slots[name] = [column[i] for i in order]
            for j, (k, cut_s) in enumerate(cuts):
                split = {}  # group -> the share of the cut slot after the cut
                for group, count, ms in timings:
                    c = slots[count][k]
                    split[group] = (
                        later_count(c, slots[ms][k], self.res_s, cut_s * 1000.0) / c
                        if c > 0
                        else 0.0
                    )
                for field in fields:
                    v = slots[field]
                    out[field][j].append(sum(v[:k]) + v[k] * split[self.group_of[field]])
        return {f: [np.array(v, np.float64) for v in sums] for f, sums in out.items()}

    def _slot(self, name: str, index: int, rows: I64 | None) -> F64:
        """One slot's values of the used rows, or of ``rows``, as float64."""
        row = self.data[name][index % self.n]
        picked: F64 = (row[: self.used] if rows is None else row[rows]).astype(np.float64)
        return picked

    def _split(self, group: str, k: int, seconds: int, rows: I64 | None) -> tuple[I64, F64]:
        """The rows with shares in the slot the window's start cuts through (``k`` slots
        before the head), and the fraction of each one's shares later than ``now - seconds``."""
        count = self._slot(f"{group}_count", self.head - k, rows)
        at = np.flatnonzero(count).astype(np.int64)
        if not len(at):
            return at, np.zeros(0)
        count = count[at]
        offsets = self._slot(f"{group}_ms", self.head - k, rows)[at]
        cut_ms = (self.now - seconds - (self.head - k) * self.res_s) * 1000.0
        share: F64 = later_part(count, offsets, self.res_s, cut_ms) / count
        return at, share

    def _whole(self, field: str, seconds: list[int], rows: I64 | None) -> list[F64]:
        """Sums of the newest ``seconds // res_s`` slots per row (float64, fresh arrays)."""
        array = self.data[field]
        if rows is not None and len(rows) * 8 <= array.shape[1]:  # few rows: gather them
            out = []
            for s in seconds:
                k = s // self.res_s
                slots = np.array([(self.head - i) % self.n for i in range(k)], np.int64)
                picked: F64 = array[np.ix_(slots, rows)].sum(axis=0, dtype=np.float64)
                out.append(picked)
            return out
        # Most rows: sum contiguous slot ranges (no copy), then pick.
        used = array[:, : self.used]
        total = np.zeros(used.shape[1], np.float64)
        done = 0  # newest slots summed so far
        sums: dict[int, F64] = {}
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
            sums[s] = total.copy() if rows is None else total[rows]
        return [sums[s] for s in seconds]

    def clear(self, rows: I64) -> None:
        for array in self.data.values():
            array[:, rows] = 0


def _joined(pieces: list[tuple[I64, F64]]) -> tuple[I64, F64]:
    if len(pieces) == 1:
        return pieces[0]
    return np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces])


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
    Sums.of(flat, np.asarray(values, np.float64), target.size, per_share=2).add_to(target)
