"""For any share stream: worker buckets add up to the sub-account's, which add up to the
pool's, which equal what was ingested — exactly, whatever the batching and drain timing."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from poolstats.domain.share import Status, quantize_diff
from poolstats.engine.engine import Engine
from poolstats.engine.snapshot import Level
from tests.engine.helpers import DAY, T0, batch

share = st.tuples(
    st.integers(1, 4),  # puid
    st.sampled_from(["a", "b", "rig.01", "x y", ""]),  # worker (some normalise)
    st.floats(0, 3 * DAY, allow_nan=False),  # seconds after T0
    st.one_of(st.integers(1, 2**20).map(float), st.floats(1e-6, 1e6, allow_nan=False)),
    st.sampled_from(list(Status)),
)


@settings(max_examples=150, deadline=None)
@given(
    shares=st.lists(share, min_size=1, max_size=120),
    cuts=st.lists(st.integers(0, 120), max_size=6),
    drain_after=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_buckets_add_up_across_levels_and_equal_the_input(
    shares: list[tuple[int, str, float, float, Status]], cuts: list[int], drain_after: list[bool]
) -> None:
    shares.sort(key=lambda s: s[2])
    events = [(p, w, T0 + dt, d, s) for p, w, dt, d, s in shares]
    engine = Engine()
    flushes = []
    bounds = sorted({0, len(events), *[c for c in cuts if c < len(events)]})
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        part = events[lo:hi]
        engine.apply(batch(engine, part), now=part[-1][2], seq=i + 1)
        if drain_after[i % len(drain_after)]:
            flushes.append(engine.drain(part[-1][2]))
    flushes.append(engine.drain(events[-1][2] + 1))

    # what was ingested, per status, computed from the events themselves
    ingested = [0.0, 0.0, 0.0]
    for _, _, _, diff, status in events:
        ingested[status] += float(quantize_diff(np.array([diff]))[0])

    totals: dict[tuple[Level, int], dict[tuple[int, int], list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0.0, 0.0, 0.0])
    )
    # workers' open buckets as a store shows them: the newest value each flush wrote
    opened: dict[tuple[int, int, int], tuple[int, list[float]]] = {}
    for flush in flushes:
        for d in flush.history:
            for j in range(len(d.start)):
                key = (int(d.puid[j]), int(d.start[j]))
                cell = totals[d.level, d.period_s][key]
                cell[Status.ACCEPT] += d.accept[j]
                cell[Status.REJECT] += d.reject[j]
                cell[Status.STALE] += d.stale[j]
        w = flush.workers
        for o in w.open:
            for j in range(len(w.puid)):
                sums = [float(o.accept[j]), float(o.reject[j]), float(o.stale[j])]
                opened[o.period_s, int(w.puid[j]), int(w.worker_id[j])] = (o.start, sums)
    for (period, puid, _), (start, sums) in opened.items():
        if not any(sums):
            continue
        cell = totals[Level.WORKER, period][puid, start]
        for k in range(3):
            cell[k] += sums[k]

    for period in (3600, DAY):  # workers -> sub-accounts
        assert totals[Level.WORKER, period] == totals[Level.SUBACCOUNT, period]
    for period in (300, 3600, DAY):  # sub-accounts -> pool
        pooled: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for (_, start), cell in totals[Level.SUBACCOUNT, period].items():
            for k in range(3):
                pooled[start][k] += cell[k]
        assert {(0, s): v for s, v in pooled.items()} == totals[Level.POOL, period]
    for (level, period), cells in totals.items():  # every level and period -> the input
        summed = [sum(cell[k] for cell in cells.values()) for k in range(3)]
        assert summed == ingested, (level, period)
