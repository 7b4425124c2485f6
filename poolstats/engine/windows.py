"""The trailing windows of one level (workers, sub-accounts or the pool): which rings hold
them, at what resolution, and how a window's sum is read."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from poolstats.domain.arrays import F64, I64
from poolstats.engine.rings import Rings
from poolstats.engine.snapshot import WindowSums

WINDOWS_S = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
FIELDS = ("accept", "reject", "stale")  # indexed by Status

RingSpec = tuple[tuple[int, int, tuple[str, ...]], ...]
#: Per worker: 10 s slots for the 1m/5m/15m accept windows, coarser ones for the rest
#: (float32: ~620 bytes a worker). Rejects at 60 s, as BTC.COM kept them.
WORKER_RINGS: RingSpec = (
    (10, 90, ("accept",)),
    (60, 15, ("reject", "stale")),
    (300, 12, ("accept",)),
    (3600, 24, ("accept",)),
)
#: Per sub-account and for the pool: everything at 10 s, float64.
TOTAL_RINGS: RingSpec = (
    (10, 90, ("accept", "reject", "stale")),
    (300, 12, ("accept",)),
    (3600, 24, ("accept",)),
)


class Realtime:
    """The trailing windows of one level (workers, sub-accounts or the pool)."""

    def __init__(
        self,
        spec: RingSpec,
        dtype: type[np.floating[Any]],
        capacity: int,
    ) -> None:
        self.rings = [Rings(res, n, fields, dtype, capacity) for res, n, fields in spec]
        self._source: dict[tuple[str, int], Rings] = {}
        for name in FIELDS:
            for seconds in WINDOWS_S.values():
                fitting = [
                    r
                    for r in self.rings
                    if name in r.data and r.span_s >= seconds and seconds % r.res_s == 0
                ]
                if fitting:
                    self._source[name, seconds] = min(fitting, key=lambda r: r.res_s)

    def grow(self, capacity: int) -> None:
        for ring in self.rings:
            ring.grow(capacity)

    def use(self, rows: int) -> None:
        for ring in self.rings:
            ring.used = rows

    def rotate(self, now: float) -> None:
        for ring in self.rings:
            ring.rotate(now)

    def clear(self, rows: I64) -> None:
        for ring in self.rings:
            ring.clear(rows)

    def add(self, by_status: list[tuple[I64, F64, F64]], span: tuple[float, float]) -> None:
        """``by_status[Status]`` = (rows, ts, diff); ``span`` = min and max of all the ts."""
        for ring in self.rings:
            for name in ring.data:
                rows, ts, diff = by_status[FIELDS.index(name)]
                ring.add(name, rows, ts, diff, span)

    def window(self, name: str, window: str, rows: I64 | None = None) -> F64:
        return self._source[name, WINDOWS_S[window]].window(name, WINDOWS_S[window], rows)

    def sums(self, rows: I64 | None = None) -> WindowSums:
        """Every window of ``WindowSums``; the windows one ring holds are summed together
        (``Rings.windows``)."""
        wanted: dict[tuple[int, str], list[str]] = {}  # (ring, field) -> window names
        for f in dataclasses.fields(WindowSums):
            name, window = f.name.rsplit("_", 1)
            ring = self._source[name, WINDOWS_S[window]]
            wanted.setdefault((self.rings.index(ring), name), []).append(window)
        values: dict[str, F64] = {}
        for (ring_index, name), windows in wanted.items():
            seconds = [WINDOWS_S[w] for w in windows]
            sums = self.rings[ring_index].windows(name, seconds, rows)
            values.update({f"{name}_{w}": v for w, v in zip(windows, sums, strict=True)})
        return WindowSums(**values)
