"""The pool's luck, worked out by hand."""

from __future__ import annotations

import pytest

from poolstats.domain.luck import expected_blocks, luck


def test_expected_blocks_add_each_stretch_at_its_own_difficulty() -> None:
    # 3e12 at difficulty 1e12 expects 3 blocks; 2e12 at 4e12 expects half a block
    assert expected_blocks([(3e12, 1e12), (2e12, 4e12)]) == pytest.approx(3.5)


def test_a_stretch_without_a_known_difficulty_expects_nothing() -> None:
    assert expected_blocks([(3e12, 0.0), (1e12, 1e12)]) == pytest.approx(1.0)


def test_luck_is_found_over_expected() -> None:
    assert luck(7, 3.5) == pytest.approx(2.0)
    assert luck(0, 3.5) == 0.0
    assert luck(2, 0.0) is None  # no work yet: no luck figure


def test_a_negative_count_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^found: "):
        luck(-1, 1.0)
