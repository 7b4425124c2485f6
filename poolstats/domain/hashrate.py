"""Hashrate from share difficulty, and how BTC.COM's API prints it.

A share of difficulty d stands for d * 2**32 hashes on average, so a window's hashrate is
``diff_sum * 2**32 / window_s``, ``diff_sum`` being the difficulty of the shares of
(now - window_s, now] (``poolstats.domain.trailing``). Conversions to H/s happen here, at the
edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HASHES_PER_DIFF1 = 2**32
UNITS = ("", "K", "M", "G", "T", "P", "E", "Z")


def hashrate_hs(diff_sum: float, window_s: float) -> float:
    """Average hashes per second over ``window_s`` seconds that produced ``diff_sum``."""
    if window_s <= 0:
        raise ValueError("window_s must be > 0")
    return diff_sum * HASHES_PER_DIFF1 / window_s


# Largest value each unit can show: a figure that would round to "1000" moves up a unit.
_UNIT_LIMITS = tuple(1000 ** (power + 1) * (1 - 0.5e-4) for power in range(len(UNITS) - 1))


def pick_unit(values_hs: list[float]) -> tuple[str, float]:
    """The unit (H, K, M ... Z, steps of 1000) that puts the largest value below 1000,
    and its size in H/s. Returned as BTC.COM wrote it: "" is shown as "H"."""
    largest = max((abs(v) for v in values_hs), default=0.0)
    power = 0
    for limit in _UNIT_LIMITS:  # the API prints thousands of figures a second: no powers here
        if largest < limit:
            break
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


def scaled(values_hs: Sequence[float]) -> tuple[str, list[str]]:
    """A group of figures in one unit, as BTC.COM printed an object's 1m/5m/15m figures:
    the unit that suits the largest, each figure with four significant digits."""
    unit, size = pick_unit(list(values_hs))
    return unit, [four_significant(v / size) for v in values_hs]


def reject_fraction(accepted: float, rejected: float) -> float:
    """Rejected share of the work (stale shares count as rejected); 0 with no work at all."""
    total = accepted + rejected
    return rejected / total if total > 0 else 0.0


def percent_text(fraction: float) -> str:
    """ "3.05" for 0.0305: how the worker API prints ``reject_percent``."""
    return f"{100 * fraction:.2f}"


def unit_size(unit: str) -> float:
    """H/s in one ``unit`` as ``pick_unit`` names them ("H", "K" ... "Z"); ValueError if unknown."""
    name = "" if unit == "H" else unit
    if name not in UNITS:
        raise ValueError(f"unknown hashrate unit {unit!r}")
    return float(1000 ** UNITS.index(name))


@dataclass(frozen=True)
class WindowDiffs:
    """Accepted share difficulty per trailing window ("1m" ... "1d"): the pool's, and the
    busiest sub-accounts' by puid; what the hashrate gauges of /metrics are made from."""

    pool: dict[str, float]
    top: dict[int, dict[str, float]]
