"""A batch reaches the rings the same way whichever path ``Realtime.add`` takes: summed per
row once (dense, for a batch big next to the rows), summed per share (sparse), or ring by
ring (a batch across a slot of the finest ring)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from poolstats.engine.rings import Sums
from poolstats.engine.windows import FIELDS, TOTAL_RINGS, Realtime
from tests.engine.helpers import T0

ROWS = 40


def _filled(shares: list[tuple[int, float, int]], now: float) -> Realtime:
    live = Realtime(TOTAL_RINGS, np.float64, ROWS)
    live.use(ROWS)
    live.rotate(now)
    by_status = []
    for status in range(len(FIELDS)):
        mine = [(row, ts) for row, ts, s in shares if s == status]
        by_status.append(
            (
                np.array([r for r, _ in mine], np.int64),
                np.array([t for _, t in mine], np.float64),
                np.array([64.0 * (1 + r % 5) for r, _ in mine], np.float64),
            )
        )
    every_ts = [t for _, t, _ in shares]
    live.add(by_status, (min(every_ts), max(every_ts)))
    return live


def _by_ring(shares: list[tuple[int, float, int]], now: float) -> Realtime:
    """The same shares given ring by ring, through ``Rings.add``: the reference."""
    live = Realtime(TOTAL_RINGS, np.float64, ROWS)
    live.use(ROWS)
    live.rotate(now)
    every_ts = [t for _, t, _ in shares]
    for ring in live.rings:
        parts = []
        for name in ring.fields:
            mine = [(row, ts) for row, ts, s in shares if s == FIELDS.index(name)]
            parts.append(
                (
                    name,
                    np.array([r for r, _ in mine], np.int64),
                    np.array([t for _, t in mine], np.float64),
                    np.array([64.0 * (1 + r % 5) for r, _ in mine], np.float64),
                )
            )
        ring.add(parts, (min(every_ts), max(every_ts)))
    return live


@settings(max_examples=150, deadline=None)
@given(
    shares=st.lists(
        st.tuples(
            st.integers(0, ROWS - 1),
            st.integers(0, 119_999),  # ms after T0: within one minute or across two
            st.sampled_from([0, 0, 0, 1, 2]),
        ),
        min_size=1,
        max_size=200,
    ),
    minute=st.integers(0, 3),
)
def test_every_path_fills_the_rings_alike(shares: list[tuple[int, int, int]], minute: int) -> None:
    start = T0 + 60 * minute
    timed = [(row, start + ms / 1000.0, status) for row, ms, status in shares]
    now = max(t for _, t, _ in timed)
    summed, reference = _filled(timed, now), _by_ring(timed, now)
    for ring, expected in zip(summed.rings, reference.rings, strict=True):
        assert ring.data.keys() == expected.data.keys()
        for name, data in ring.data.items():
            np.testing.assert_allclose(data, expected.data[name], rtol=1e-12, err_msg=name)


def test_a_batch_big_next_to_the_rows_is_summed_per_row_and_a_small_one_per_share() -> None:
    rows = np.array([3, 1, 3, 0], np.int64)
    values = np.array([1.0, 2.0, 4.0, 8.0])
    dense, sparse = Sums.of(rows, values, 10), Sums.of(rows, values, 100)
    assert dense.rows is None
    assert dense.values.tolist() == [8.0, 2.0, 0.0, 5.0, 0, 0, 0, 0, 0, 0]
    assert sparse.rows is not None
    for sums, size in ((dense, 10), (sparse, 100)):
        target = np.zeros(size, np.float32)
        sums.add_to(target)
        sums.add_to(target)
        assert target[:4].tolist() == [16.0, 4.0, 0.0, 10.0]
        assert not target[4:].any()
        counts = Sums.counts(rows, size)
        shifted = sums.plus(0.5, counts)
        target = np.zeros(size)
        shifted.add_to(target)
        assert target[:4].tolist() == [8.5, 2.5, 0.0, 6.0]
