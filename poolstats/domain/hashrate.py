"""Hashrate from share difficulty, and how BTC.COM's API prints it.

A share of difficulty d stands for d * 2**32 hashes on average, so a window's hashrate is
``diff_sum * 2**32 / window_s``. Conversions to H/s happen here, at the edge.
"""

from __future__ import annotations

import math

HASHES_PER_DIFF1 = 2**32
UNITS = ("", "K", "M", "G", "T", "P", "E", "Z")


def hashrate_hs(diff_sum: float, window_s: float) -> float:
    """Average hashes per second over ``window_s`` seconds that produced ``diff_sum``."""
    if window_s <= 0:
        raise ValueError("window_s must be > 0")
    return diff_sum * HASHES_PER_DIFF1 / window_s


def pick_unit(values_hs: list[float]) -> tuple[str, float]:
    """The unit (H, K, M ... Z, steps of 1000) that puts the largest value below 1000,
    and its size in H/s. Returned as BTC.COM wrote it: "" is shown as "H"."""
    largest = max((abs(v) for v in values_hs), default=0.0)
    power = 0
    while power < len(UNITS) - 1 and largest >= 1000 ** (power + 1) * (1 - 0.5e-4):
        power += 1
    return (UNITS[power] or "H"), float(1000**power)


def four_significant(value: float) -> str:
    """ "1.466", "23.32", "439.8", "733.0"; zero as "0"."""
    if value == 0:
        return "0"
    digits = 3 - math.floor(math.log10(abs(value)))
    text = f"{value:.{max(digits, 0)}f}"
    if digits >= 0 and float(text) >= 10 ** (4 - digits):  # rounding carried a digit
        text = f"{value:.{max(digits - 1, 0)}f}"
    return text
