"""Accepted work per sub-account, UTC day and network state, counted exactly for settlement.

Earnings are money, so the work they are computed from is never rounded. Every share
difficulty is a multiple of 2**-20 (``share.DIFF_QUANTUM``), so ``diff * 2**20`` is an integer
and work is kept as Python integers of those units. A batch is summed with numpy in float64,
which is exact while a sum stays below 2**33 (53 bits of mantissa less 20 of fraction); the
rare group beyond that is summed again share by share in integers.

Shares at or above the network difficulty in force at their time are counted apart (each is
worth one whole block share: ``domain.earnings.Work``), so the network timeline is an input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from poolstats.domain.arrays import F64, I64
from poolstats.domain.earnings import SECONDS_PER_DAY
from poolstats.domain.share import DIFF_QUANTUM

UNITS_PER_DIFF = round(1 / DIFF_QUANTUM)  # 2**20
EXACT_FLOAT_SUM = 2.0**33
NO_STATE = -1  # ``net_at`` of work booked before any network state was known

Key = tuple[int, int, int]  # (sub-account row, day start, net_at)


@dataclass(frozen=True)
class WorkRows:
    """Work to book: one entry per (puid, day start, net_at); see ``store.ledger``."""

    puid: list[int]
    day: list[int]  # unix seconds of the UTC day's start
    net_at: list[int]  # ``network_history.at`` in force at the shares' time; -1: none known
    diff_q: list[int]  # Σ difficulty of the shares below the network's, in 2**-20 units
    capped: list[int]  # shares at or above the network difficulty

    def __len__(self) -> int:
        return len(self.puid)


NO_WORK = WorkRows([], [], [], [], [])


def capping_threshold(difficulty: Fraction) -> float:
    """The smallest float64 >= ``difficulty``: for a float share difficulty ``d``,
    ``d >= threshold`` exactly when ``d >= difficulty``, so numpy can split shares without
    converting each one to a fraction."""
    t = float(difficulty)
    return t if Fraction(t) >= difficulty else math.nextafter(t, math.inf)


@dataclass(frozen=True)
class Timeline:
    """The network states known so far: their start times, sorted, and capping thresholds."""

    at: I64
    threshold: F64

    @classmethod
    def of(cls, states: Iterable[tuple[int, Fraction]]) -> Timeline:
        """From (at, difficulty) pairs in any order."""
        ordered = sorted(states)
        return cls(
            np.array([at for at, _ in ordered], np.int64),
            np.array([capping_threshold(d) for _, d in ordered], np.float64),
        )

    def locate(self, ts: F64) -> tuple[I64, F64]:
        """Per share: the ``at`` of the state in force (-1 before the first) and its capping
        threshold (inf where no state is known: nothing is capped)."""
        if not len(self.at):
            return np.full(len(ts), NO_STATE, np.int64), np.full(len(ts), np.inf)
        index = np.searchsorted(self.at, ts, side="right") - 1
        known = index >= 0
        safe = np.where(known, index, 0)
        net_at = np.where(known, self.at[safe], NO_STATE)
        threshold = np.where(known, self.threshold[safe], np.inf)
        return net_at.astype(np.int64), threshold


EMPTY_TIMELINE = Timeline(np.empty(0, np.int64), np.empty(0, np.float64))


class WorkBook:
    """Work added since the last drain, keyed by (sub-account row, day, net_at)."""

    def __init__(self) -> None:
        self._parts: dict[Key, list[int]] = {}

    def __len__(self) -> int:
        return len(self._parts)

    def add(self, subs: I64, ts: F64, diff: F64, timeline: Timeline) -> None:
        """Count accepted shares (sub-account rows, true times, quantised difficulties)."""
        if not len(subs):
            return
        ends = np.array([ts.min(), ts.max()])
        end_at, end_threshold = timeline.locate(ends)
        end_day = ends // SECONDS_PER_DAY
        if end_day[0] == end_day[1] and end_at[0] == end_at[1]:  # nearly every batch
            # one day and one network state: per-share look-ups are not needed, and sub-account
            # rows are small dense integers, so shares are grouped by counting, not sorting
            capped = diff >= end_threshold[0]
            uncapped = np.where(capped, 0.0, diff)
            groups = np.flatnonzero(np.bincount(subs))
            day0 = int(end_day[0]) * SECONDS_PER_DAY
            keys = [(g, day0, int(end_at[0])) for g in groups.tolist()]
            sums = np.bincount(subs, weights=uncapped)[groups]
            counts = np.bincount(subs, weights=capped)[groups].astype(np.int64)
            inverse, labels = subs, groups  # share i is in group j where labels[j] == subs[i]
        else:
            net_at, threshold = timeline.locate(ts)
            capped = diff >= threshold
            uncapped = np.where(capped, 0.0, diff)
            day = (ts // SECONDS_PER_DAY).astype(np.int64) * SECONDS_PER_DAY
            table = np.stack([subs, day, net_at])
            unique, inverse = np.unique(table, axis=1, return_inverse=True)
            keys = [(int(s), int(d), int(n)) for s, d, n in unique.T.tolist()]
            inverse = inverse.reshape(-1)
            labels = np.arange(len(keys))
            sums = np.bincount(inverse, weights=uncapped, minlength=len(keys))
            counts = np.bincount(inverse, weights=capped, minlength=len(keys)).astype(np.int64)
        units = (np.minimum(sums, EXACT_FLOAT_SUM) * UNITS_PER_DIFF).astype(np.int64).tolist()
        for group in np.flatnonzero(sums >= EXACT_FLOAT_SUM).tolist():
            shares = uncapped[inverse == labels[group]].tolist()  # multiples of 2**-20: exact
            units[group] = sum(int(d * UNITS_PER_DIFF) for d in shares)
        for key, q, n in zip(keys, units, counts.tolist(), strict=True):
            part = self._parts.get(key)
            if part is None:
                self._parts[key] = [q, n]
            else:
                part[0] += q
                part[1] += n

    def drain(self, puid_of_row: I64) -> WorkRows:
        """Everything added since the last drain, with rows turned into puids."""
        if not self._parts:
            return NO_WORK
        parts, self._parts = self._parts, {}
        ordered = sorted(parts.items())
        return WorkRows(
            puid=[int(puid_of_row[s]) for (s, _, _), _ in ordered],
            day=[d for (_, d, _), _ in ordered],
            net_at=[n for (_, _, n), _ in ordered],
            diff_q=[q for _, (q, _) in ordered],
            capped=[c for _, (_, c) in ordered],
        )
