"""History increments of one bucket period, held until the next flush hands them to the store.

Shares of the current bucket (nearly all of them) go to a dense array indexed by row;
anything else (late, replayed or future shares, and the current bucket when time moves on
before a flush) waits as raw chunks that ``drain`` reduces.

With ``keep_open`` (workers: a million rows) the current bucket is not drained at all: its
sums stay in the dense array until the bucket closes, and only then become increments. The
store keeps the open bucket's sums with the worker's realtime row (written every flush
anyway), so a flush writes one row per worker instead of one per worker and period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poolstats.domain.arrays import F64, I64, U8
from poolstats.engine.rings import Sums, lazy_zeros, scatter_add

N_STATUS = 3  # accept, reject, stale (poolstats.domain.share.Status)


@dataclass(frozen=True)
class Drained:
    rows: I64
    start: I64
    sums: F64  # shape (3, len(rows)): accept, reject, stale difficulty


class Buckets:
    """``dense_statuses`` statuses get a dense array; the others wait as chunks (an open bucket
    kept until it closes needs all three dense)."""

    def __init__(
        self, period_s: int, capacity: int, dense_statuses: int = N_STATUS, keep_open: bool = False
    ) -> None:
        if keep_open and dense_statuses != N_STATUS:
            raise ValueError("an open bucket kept until it closes needs every status dense")
        self.period_s = period_s
        self.start = -1  # start of the bucket the dense array holds; only moves forward
        self.dense = lazy_zeros((dense_statuses, capacity), np.float64)
        self.dirty = False
        self.keep_open = keep_open
        self._chunks: list[tuple[I64, I64, U8, F64]] = []
        self._closed: list[I64] = []  # rows whose open bucket closed since ``take_closed``
        self.used = 0  # rows beyond are never touched (see Rings.used)

    @property
    def capacity(self) -> int:
        return int(self.dense.shape[1])

    def grow(self, capacity: int) -> None:
        new = lazy_zeros((len(self.dense), capacity), np.float64)
        new[:, : self.used] = self.dense[:, : self.used]
        self.dense = new

    def rotate(self, now: float) -> None:
        start = int(now // self.period_s) * self.period_s
        if start <= self.start:  # time never goes back; ``load_open`` may have moved ahead
            return
        if self.dirty:
            rows = np.flatnonzero(self.dense[:, : self.used].any(axis=0))
            if self.keep_open:
                self._closed.append(rows.astype(np.int64))
            for status in range(len(self.dense)):
                values = self.dense[status, rows]
                nz = values != 0
                self._chunks.append(
                    (
                        rows[nz],
                        np.full(int(nz.sum()), self.start, np.int64),
                        np.full(int(nz.sum()), status, np.uint8),
                        values[nz],
                    )
                )
            self.dense[:, : self.used] = 0
            self.dirty = False
        self.start = start

    def add(
        self,
        by_status: list[tuple[I64, F64, F64]],
        span: tuple[float, float],
        sums: list[Sums] | None = None,
    ) -> None:
        """``by_status[Status]`` = (rows, ts, diff); ``span`` = min and max of all the ts;
        ``sums``: each status's diff per row, when the caller has them (``Sums.of``)."""
        first = int(span[0] // self.period_s) * self.period_s
        last = int(span[1] // self.period_s) * self.period_s
        for status, (rows, ts, diff) in enumerate(by_status):
            if not len(rows):
                continue
            if status >= len(self.dense):
                start = (ts // self.period_s).astype(np.int64) * self.period_s
                self._chunks.append((rows, start, np.full(len(rows), status, np.uint8), diff))
                continue
            if first == last == self.start:
                if sums is None:
                    scatter_add(self.dense[status], rows, diff)
                else:
                    sums[status].add_to(self.dense[status])
                self.dirty = True
                continue
            start = (ts // self.period_s).astype(np.int64) * self.period_s
            current = start == self.start
            other = ~current
            self._chunks.append(
                (
                    rows[other],
                    start[other],
                    np.full(int(other.sum()), status, np.uint8),
                    diff[other],
                )
            )
            if current.any():
                scatter_add(self.dense[status], rows[current], diff[current])
                self.dirty = True

    def drain(self) -> Drained:
        """Everything added since the last drain, one entry per (row, bucket start); with
        ``keep_open``, everything but the open bucket."""
        dense: Drained | None = None
        if self.dirty and not self.keep_open:
            rows = np.flatnonzero(self.dense[:, : self.used].any(axis=0)).astype(np.int64)
            sums = np.zeros((N_STATUS, len(rows)), np.float64)
            sums[: len(self.dense)] = self.dense[:, rows]
            dense = Drained(rows, np.full(len(rows), self.start, np.int64), sums)
            self.dense[:, rows] = 0
            self.dirty = False
        chunks, self._chunks = self._chunks, []
        if not chunks:
            if dense is not None:
                return dense
            empty = np.empty(0, np.int64)
            return Drained(empty, empty, np.zeros((N_STATUS, 0)))
        if dense is not None:  # the rare mixed case: unfold the dense part into chunks
            for status in range(N_STATUS):
                chunks.append(
                    (
                        dense.rows,
                        dense.start,
                        np.full(len(dense.rows), status, np.uint8),
                        dense.sums[status],
                    )
                )
        rows = np.concatenate([c[0] for c in chunks]).astype(np.int64)  # shifted by 32 below
        start = np.concatenate([c[1] for c in chunks])
        statuses = np.concatenate([c[2] for c in chunks])
        diff = np.concatenate([c[3] for c in chunks])
        keys = (rows << 32) | (start // self.period_s)
        unique, inverse = np.unique(keys, return_inverse=True)
        sums = np.zeros((N_STATUS, len(unique)), np.float64)
        np.add.at(sums, (statuses.astype(np.int64), inverse), diff)
        return Drained(unique >> 32, (unique & 0xFFFFFFFF) * self.period_s, sums)

    def pending_rows(self) -> I64:
        """Rows with increments not yet drained (they must not be evicted)."""
        pending = [np.flatnonzero(self.dense[:, : self.used].any(axis=0))] + [
            c[0] for c in self._chunks
        ]
        return np.unique(np.concatenate(pending))

    def clear(self, rows: I64) -> None:
        self.dense[:, rows] = 0

    # -- the open bucket (``keep_open``) ------------------------------------------------------

    def open_sums(self, rows: I64) -> F64:
        """The open bucket's sums so far, shape (3, len(rows)): accept, reject, stale."""
        result: F64 = self.dense[:, rows]
        return result

    def take_closed(self) -> I64:
        """Rows whose open bucket closed since the last call (their store rows still show it
        as open: the flush that writes its increments must rewrite them too)."""
        closed, self._closed = self._closed, []
        if not closed:
            return np.empty(0, np.int64)
        return np.unique(np.concatenate(closed))

    def load_open(self, start: int, rows: I64, sums: F64) -> None:
        """Set the open bucket ``start`` of ``rows`` to ``sums`` (3, len(rows)), as the store
        holds it: on recovery, the store's open buckets are newer than a checkpoint's."""
        if start < self.start:  # closed meanwhile and never written: increments now
            for status in range(N_STATUS):
                nz = sums[status] != 0
                self._chunks.append(
                    (
                        rows[nz],
                        np.full(int(nz.sum()), start, np.int64),
                        np.full(int(nz.sum()), status, np.uint8),
                        sums[status][nz],
                    )
                )
            return
        if start > self.start:
            self.rotate(float(start))
        self.dense[:, rows] = sums
        self.dirty = self.dirty or bool(len(rows))
