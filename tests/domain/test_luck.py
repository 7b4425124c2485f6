"""The pool's luck, worked out by hand."""

from __future__ import annotations

from fractions import Fraction

import pytest

from poolstats.domain.luck import expected_blocks, luck, mean_inverse_difficulty


def test_mean_inverse_difficulty_weights_each_entry_by_its_time_in_force() -> None:
    # 1000 for the first quarter of [0, 400), then 4000: (100/1000 + 300/4000) / 400
    entries = [(-50, "1000"), (100, "4000")]
    assert mean_inverse_difficulty(entries, 0, 400) == Fraction(7, 16_000)


def test_a_stretch_partly_without_a_difficulty_has_no_mean() -> None:
    assert mean_inverse_difficulty([(100, "1000")], 0, 400) is None
    assert mean_inverse_difficulty([], 0, 400) is None
    with pytest.raises(ValueError, match=r"^stop: "):
        mean_inverse_difficulty([(0, "1")], 5, 5)


def test_expected_blocks_and_luck() -> None:
    # 3,000 accepted at difficulty 1,000: 3 blocks expected; 6 found is luck 2
    expected = expected_blocks(3000.0, Fraction(1, 1000))
    assert expected == 3
    assert luck(6, expected) == 2.0
    assert luck(0, expected) == 0.0
    assert luck(2, Fraction(0)) is None  # no work yet: no luck figure


def test_negative_counts_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"^found: "):
        luck(-1, Fraction(1))
    with pytest.raises(ValueError, match=r"^accepted: "):
        expected_blocks(-1.0, Fraction(1))
