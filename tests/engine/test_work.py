"""Exact work for settlement: sums checked against Fractions computed share by share."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from poolstats.domain.share import DIFF_QUANTUM, Status
from poolstats.engine.engine import Engine
from poolstats.engine.work import (
    NO_STATE,
    Timeline,
    WorkBook,
    WorkRows,
    capping_threshold,
)
from tests.engine.helpers import DAY, T0, batch

Q = 2**20
D1 = Fraction("1000.5")  # network difficulty from T0
D2 = Fraction(2000)  # from T0 + 12 h
TIMELINE = Timeline.of([(T0 + 12 * 3600, D2), (T0, D1)])  # any order


def as_dict(rows: WorkRows) -> dict[tuple[int, int, int], tuple[int, int]]:
    return {
        (p, d, n): (q, c)
        for p, d, n, q, c in zip(
            rows.puid, rows.day, rows.net_at, rows.diff_q, rows.capped, strict=True
        )
    }


def test_capping_threshold_is_the_smallest_float_at_or_above() -> None:
    third = Fraction(1, 3)
    t = capping_threshold(third)
    assert Fraction(t) >= third and Fraction(math.nextafter(t, 0)) < third
    assert capping_threshold(Fraction(1000)) == 1000.0
    huge = Fraction(2**60 + 1)  # not a float: the next float up
    assert capping_threshold(huge) == math.nextafter(float(2**60), math.inf)


def test_timeline_locates_states_and_knows_none_before_the_first() -> None:
    ts = np.array([T0 - 1, T0, T0 + 43199, T0 + 43200, T0 + 99999], np.float64)
    net_at, threshold = TIMELINE.locate(ts)
    assert net_at.tolist() == [NO_STATE, T0, T0, T0 + 43200, T0 + 43200]
    assert threshold.tolist() == [math.inf, 1000.5, 1000.5, 2000.0, 2000.0]
    empty = Timeline.of([])
    assert empty.locate(ts)[0].tolist() == [NO_STATE] * 5


def test_engine_books_accepted_work_by_day_and_network_state() -> None:
    engine = Engine()
    engine.timeline = TIMELINE
    shares = [
        (1, "a", T0 + 10, 1.5, Status.ACCEPT),
        (1, "b", T0 + 20, 2**-20, Status.ACCEPT),
        (1, "a", T0 + 30, 99.0, Status.REJECT),  # rejects and stales earn nothing
        (1, "a", T0 + 31, 99.0, Status.STALE),
        (1, "a", T0 + 40, 1000.5, Status.ACCEPT),  # exactly the network's: capped
        (1, "a", T0 + 41, 1000.4999990463257, Status.ACCEPT),  # just below (a 2**-20 step)
        (1, "a", T0 + 43200, 1500.0, Status.ACCEPT),  # after the change: not capped
        (2, "c", T0 + DAY + 5, 4000.0, Status.ACCEPT),  # next day, capped at 2000
        (2, "c", T0 - 5, 3.0, Status.ACCEPT),  # before any state
    ]
    engine.apply(batch(engine, shares), now=T0 + DAY + 10)
    got = as_dict(engine.drain(T0 + DAY + 10).work)
    below = Fraction(1000.4999990463257)
    assert below.denominator <= Q  # a multiple of 2**-20, as quantised
    assert got == {
        (1, T0, T0): (int((Fraction(3, 2) + Fraction(1, Q) + below) * Q), 1),
        (1, T0, T0 + 43200): (1500 * Q, 0),
        (2, T0 + DAY, T0 + 43200): (0, 1),
        (2, T0 - DAY, NO_STATE): (3 * Q, 0),
    }
    assert engine.drain(T0 + DAY + 11).work.puid == []  # drained once


def test_replayed_batches_the_store_has_book_no_work() -> None:
    engine = Engine()
    engine.apply(batch(engine, [(1, "a", T0, 5.0, Status.ACCEPT)]), T0, history=False)
    assert len(engine.drain(T0).work) == 0


def test_sums_beyond_float_exactness_are_summed_in_integers() -> None:
    book = WorkBook()
    diff = np.array([2.0**40, 2.0**40, DIFF_QUANTUM, 3 * DIFF_QUANTUM], np.float64)
    assert float(diff.sum()) == 2.0**41  # float64 loses the small shares
    book.add(np.zeros(4, np.int64), np.full(4, float(T0)), diff, Timeline.of([]))
    got = book.drain(np.array([7], np.int64))
    assert got.diff_q == [2 * 2**40 * Q + 4]
    assert got.puid == [7] and got.capped == [0]


shares_strategy = st.lists(
    st.tuples(
        st.integers(0, 3),  # sub-account row
        st.integers(-DAY, 2 * DAY),  # offset from T0
        # difficulty in 2**-20 units: below the network's, or far above float64's exact sums
        st.one_of(st.integers(1, 2**31), st.integers(1, 2**60)),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(shares_strategy, st.integers(1, 5))
def test_any_split_into_batches_gives_the_exact_fraction_sums(
    shares: list[tuple[int, int, int]], parts: int
) -> None:
    """Whatever the batches, the drained work equals Σ per share computed with Fractions."""
    # a float holds the difficulty: beyond 2**53 units it is the nearest one, still a multiple
    # of 2**-20 (what quantize_diff guarantees); the expectation is that float's exact value
    shares = [(sub, offset, int(Fraction(units / Q) * Q)) for sub, offset, units in shares]
    expected: dict[tuple[int, int, int], list[int]] = {}
    for sub, offset, units in shares:
        ts = T0 + offset
        at = max((a for a in (T0, T0 + 43200) if a <= ts), default=NO_STATE)
        difficulty = {T0: D1, T0 + 43200: D2}.get(at)
        key = (sub + 100, ts // DAY * DAY, at)
        entry = expected.setdefault(key, [0, 0])
        if difficulty is not None and Fraction(units, Q) >= difficulty:
            entry[1] += 1
        else:
            entry[0] += units
    book = WorkBook()
    size = -(-len(shares) // parts)
    for i in range(0, len(shares), size):
        chunk = shares[i : i + size]
        book.add(
            np.array([s for s, _, _ in chunk], np.int64),
            np.array([T0 + o for _, o, _ in chunk], np.float64),
            np.array([u / Q for _, _, u in chunk], np.float64),
            TIMELINE,
        )
    got = as_dict(book.drain(np.arange(100, 104, dtype=np.int64)))
    assert got == {k: tuple(v) for k, v in expected.items()}
