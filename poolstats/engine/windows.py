"""The trailing windows of one level (workers, sub-accounts or the pool): which rings hold
them, at what resolution, and how a window's sum is read.

A window of W seconds at ``now`` sums the shares of (now - W, now]
(``poolstats.domain.trailing``); ``now`` is the time the engine was last advanced to.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from poolstats.domain.arrays import F64, I64, BoolArray
from poolstats.domain.trailing import offsets_ms
from poolstats.engine.rings import Part, Rings, Sums
from poolstats.engine.snapshot import WindowSums

WINDOWS_S = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
FIELDS = ("accept", "reject", "stale")  # indexed by Status

#: (slot seconds, slots, groups of fields sharing a timing)
RingSpec = tuple[tuple[int, int, tuple[tuple[str, ...], ...]], ...]
#: Per worker: 60 s slots for the 1m/5m/15m windows of every status, coarser ones for the 1h
#: and 1d accept windows; each ring one slot longer than its longest window, for the slot
#: the window's start cuts through. Rejects and stale shares share one timing (float32:
#: 664 bytes a worker).
WORKER_RINGS: RingSpec = (
    (60, 16, (("accept",), ("reject", "stale"))),
    (900, 5, (("accept",),)),
    (7200, 13, (("accept",),)),
)
#: Per sub-account and for the pool: the same slots, float64.
TOTAL_RINGS: RingSpec = WORKER_RINGS


class Realtime:
    """The trailing windows of one level (workers, sub-accounts or the pool)."""

    def __init__(
        self,
        spec: RingSpec,
        dtype: type[np.floating[Any]],
        capacity: int,
    ) -> None:
        self.rings = [Rings(res, n, groups, dtype, capacity) for res, n, groups in spec]
        # Every slot of a coarser ring is whole slots of the finest: a batch within one slot
        # of the finest ring is within one slot of each (``add``'s common case).
        self._finest = min(r.res_s for r in self.rings)
        if any(r.res_s % self._finest for r in self.rings):
            raise ValueError("each ring's slots must be whole slots of the finest ring")
        # per ring: its fields' statuses, and each timing group's statuses
        self._adds = [
            (
                ring,
                [(name, FIELDS.index(name)) for name in ring.fields],
                {
                    group: tuple(FIELDS.index(f) for f in ring.fields if ring.group_of[f] == group)
                    for group in dict.fromkeys(ring.group_of.values())
                },
            )
            for ring in self.rings
        ]
        self._source: dict[tuple[str, int], Rings] = {}
        for name in FIELDS:
            for seconds in WINDOWS_S.values():
                fitting = [
                    r
                    for r in self.rings
                    if name in r.group_of
                    and r.span_s >= seconds + r.res_s  # the whole window and its cut slot
                    and seconds % r.res_s == 0
                ]
                if fitting:
                    self._source[name, seconds] = min(fitting, key=lambda r: r.res_s)
        # what ``sums`` reads: per ring, the fields that want the same windows, read together
        by_field: dict[tuple[int, str], list[str]] = {}  # (ring, field) -> window names
        for f in dataclasses.fields(WindowSums):
            name, window = f.name.rsplit("_", 1)
            ring = self._source[name, WINDOWS_S[window]]
            by_field.setdefault((self.rings.index(ring), name), []).append(window)
        wanted: dict[tuple[int, tuple[str, ...]], list[str]] = {}
        for (ring_index, name), windows in by_field.items():
            wanted.setdefault((ring_index, tuple(windows)), []).append(name)
        self._plan = [(self.rings[i], windows, names) for (i, windows), names in wanted.items()]

    def grow(self, capacity: int) -> None:
        for ring in self.rings:
            ring.grow(capacity)

    @property
    def used(self) -> int:
        """Rows that may be touched (``Rings.used``, the same in every ring)."""
        return self.rings[0].used

    def use(self, rows: int) -> None:
        for ring in self.rings:
            ring.used = rows

    def rotate(self, now: float) -> None:
        for ring in self.rings:
            ring.rotate(now)

    def clear(self, rows: I64) -> None:
        for ring in self.rings:
            ring.clear(rows)

    def add(
        self,
        by_status: list[tuple[I64, F64, F64]],
        span: tuple[float, float],
        sums: list[Sums] | None = None,
    ) -> None:
        """``by_status[Status]`` = (rows, ts, diff); ``span`` = min and max of all the ts;
        ``sums``: each status's diff per row (``Sums.of``), when the caller has them.

        A batch within one slot of the finest ring (nearly every batch) is summed per row
        once, each status's values and each group's count and offsets, and those sums go to
        every ring: a few passes of the batch instead of one scatter per ring and array.
        """
        first = int(span[0] // self._finest)
        if first != int(span[1] // self._finest):
            for ring in self.rings:
                parts: list[Part] = []
                for name in ring.fields:
                    rows, ts, diff = by_status[FIELDS.index(name)]
                    parts.append((name, rows, ts, diff))
                ring.add(parts, span)
            return
        if sums is None:
            sums = [Sums.of(rows, diff, self.used) for rows, _, diff in by_status]
        start_s = first * self._finest
        present = [len(rows) > 0 for rows, _, _ in by_status]
        timings: dict[str, tuple[Sums, Sums]] = {}  # group -> (count, ms from ``start_s``)
        for ring, fields, groups in self._adds:
            index = first * self._finest // ring.res_s
            if index < ring.head - ring.n + 1:
                continue  # older than the ring: counted in history only
            shift_ms = (start_s - index * ring.res_s) * 1000.0
            ring_timings: dict[str, tuple[Sums, Sums]] = {}
            for group, statuses in groups.items():
                if not any(present[s] for s in statuses):
                    continue
                if group not in timings:
                    timings[group] = self._timing([by_status[s] for s in statuses], start_s)
                count, ms = timings[group]
                ring_timings[group] = (count, ms.plus(shift_ms, count))
            ring.add_sums(index, {name: sums[s] for name, s in fields if present[s]}, ring_timings)

    def _timing(self, parts: list[tuple[I64, F64, F64]], start_s: int) -> tuple[Sums, Sums]:
        """How many shares of ``parts`` each row has, and the sum of their offsets in ms from
        ``start_s`` (``poolstats.domain.trailing.offsets_ms``)."""
        present = [(rows, ts) for rows, ts, _ in parts if len(rows)]
        if len(present) == 1:
            rows, ts = present[0]
        else:
            rows = np.concatenate([p[0] for p in present])
            ts = np.concatenate([p[1] for p in present])
        count = Sums.counts(rows, self.used)
        return count, Sums.of(rows, offsets_ms(ts, float(start_s)), self.used)

    def sliding(self, since: float, now: float, last: F64) -> BoolArray:
        """Rows whose windows at ``now`` may differ from those at ``since`` with no new share:
        those with shares in a slot that a window's start crossed meanwhile. Where such a
        slot has left its ring, rows whose ``last`` share is as late as its start."""
        moving = np.zeros(len(last), np.bool_)
        if since >= now:
            return moving
        for ring, seconds in {(id(r), s): (r, s) for (_, s), r in self._source.items()}.values():
            res = ring.res_s
            first, cut = int((since - seconds) // res), int((now - seconds) // res)
            oldest = ring.head - ring.n + 1
            if first < oldest:
                moving |= last >= first * res
            for index in range(max(first, oldest), cut + 1):
                for name, array in ring.data.items():
                    if name.endswith("_count"):
                        moving |= array[index % ring.n, : len(last)] > 0
        return moving

    def window(self, name: str, window: str, rows: I64 | None = None) -> F64:
        return self._source[name, WINDOWS_S[window]].window(name, WINDOWS_S[window], rows)

    def sums(self, rows: I64 | None = None) -> WindowSums:
        """Every window of ``WindowSums``; the windows one ring holds are read together
        (``Rings.windows``)."""
        values: dict[str, F64] = {}
        for ring, windows, names in self._plan:
            seconds = [WINDOWS_S[w] for w in windows]
            sums = ring.windows(names, seconds, rows)
            for name in names:
                values.update({f"{name}_{w}": v for w, v in zip(windows, sums[name], strict=True)})
        return WindowSums(**values)
