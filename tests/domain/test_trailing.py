"""How the slot a window's start cuts through is split (poolstats.domain.trailing)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from poolstats.domain.trailing import later_count, later_part, offsets_ms

T = 1_790_000_040.0  # a slot start (a multiple of 60)


def split(offsets: list[float], width_s: float, cut_ms: float) -> float:
    return later_count(len(offsets), sum(offsets), width_s, cut_ms)


def test_offsets_count_whole_milliseconds_rounded_up() -> None:
    ts = np.array([T, T + 0.0002, T + 0.001, T + 59.9999])
    assert offsets_ms(ts, T).tolist() == [0, 1, 1, 60_000]


def test_one_share_in_the_slot_is_all_in_or_all_out() -> None:
    # one share at 30 s into a 60 s slot: in while the cut is before it, out at it
    assert split([30_000], 60, 29_999) == 1
    assert split([30_000], 60, 30_000) == 0
    assert split([30_000], 60, 0) == 1


def test_a_share_a_second_splits_by_the_second() -> None:
    # shares at 0, 1, ..., 59 s: a cut at 20 s leaves 21 ... 59 (39 shares)
    offsets = [1000.0 * i for i in range(60)]
    assert split(offsets, 60, 20_000) == 39
    # the same at a phase of 0.4 s: 0.4, 1.4, ... 59.4 s; the cut at 20 s leaves 20.4 ... (40)
    offsets = [400.0 + 1000 * i for i in range(60)]
    assert split(offsets, 60, 20_000) == 40


def test_a_share_every_ten_seconds_splits_by_the_share() -> None:
    # 6 shares at 7, 17, ... 57 s: a cut at 17 s leaves 27 ... 57 (4); at 16.999 s, 5
    offsets = [7000.0 + 10_000 * i for i in range(6)]
    assert split(offsets, 60, 17_000) == 4
    assert split(offsets, 60, 16_999) == 5


def test_a_miner_that_stopped_within_the_slot_is_laid_out_where_it_mined() -> None:
    # one share a second over the first 10 s of a 2 h slot only: a cut at 5 s leaves 5 of 10
    # (5.x ... 9.x), not the ~10 * 7195 / 7200 an even spread over the slot would say
    offsets = [300.0 + 1000 * i for i in range(10)]
    assert split(offsets, 7200, 5_000) == 5


def test_a_cut_inside_a_millisecond_takes_its_part() -> None:
    assert split([30_000], 60, 29_999.25) == 0.75


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 60_000), max_size=40),
    spread=st.sampled_from([1, 10, 120]),
    width=st.sampled_from([60, 900, 7200]),
    cut=st.floats(-2_000, 7_300_000, allow_nan=False),
)
def test_the_array_and_the_float_versions_agree_and_stay_within_the_slot(
    offsets: list[int], spread: int, width: int, cut: float
) -> None:
    scaled = [min(o * spread, width * 1000) for o in offsets]
    one = split(scaled, width, cut)
    many = later_part(np.array([float(len(scaled))]), np.array([float(sum(scaled))]), width, cut)
    assert abs(many[0] - one) <= 1e-9 * max(1, len(scaled))
    assert 0 <= one <= len(scaled)
    if cut <= -1:
        assert one == len(scaled)  # a cut a millisecond before the slot leaves every share
    if cut >= width * 1000:
        assert one == 0  # a cut at the slot's end leaves none
