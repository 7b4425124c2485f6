"""Hashrate arithmetic and BTC.COM's way of printing it."""

from __future__ import annotations

import pytest

from poolstats.domain.hashrate import (
    four_significant,
    hashrate_hs,
    percent_text,
    pick_unit,
    reject_fraction,
    scaled,
    unit_size,
)


def test_hashrate_is_difficulty_times_2_32_over_seconds() -> None:
    # 600 shares of difficulty 65536 in 10 minutes: 65536 * 2**32 hashes a second
    assert hashrate_hs(600 * 65536, 600) == 65536 * 2**32
    with pytest.raises(ValueError):
        hashrate_hs(1, 0)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.4661, "1.466"),
        (23.324, "23.32"),
        (439.84, "439.8"),
        (733.0, "733.0"),
        (0, "0"),
        (9.99951, "10.00"),
        (0.0123456, "0.01235"),
    ],
)
def test_four_significant_digits(value: float, text: str) -> None:
    assert four_significant(value) == text


def test_unit_puts_the_largest_figure_below_1000() -> None:
    assert pick_unit([2.14e9, 1.466e9]) == ("G", 1e9)
    assert pick_unit([23.32e12]) == ("T", 1e12)
    assert pick_unit([999.0]) == ("H", 1.0)
    assert pick_unit([1e21 * 5]) == ("Z", 1e21)


def test_a_group_of_figures_shares_the_unit_of_its_largest() -> None:
    assert scaled([1.466e9, 2.14e9, 2345e6]) == ("G", ["1.466", "2.140", "2.345"])
    assert scaled([0.0, 0.0]) == ("H", ["0", "0"])


def test_reject_fraction_counts_rejected_work_against_all_work() -> None:
    assert reject_fraction(97.0, 3.0) == 0.03
    assert reject_fraction(0.0, 0.0) == 0.0
    assert percent_text(0.0305) == "3.05"
    assert percent_text(0.0) == "0.00"


def test_unit_size_inverts_pick_unit() -> None:
    for value in (5.0, 5e3, 5e9, 5e21):
        unit, size = pick_unit([value])
        assert unit_size(unit) == size
    with pytest.raises(ValueError):
        unit_size("X")
