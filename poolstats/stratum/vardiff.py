"""Variable difficulty: each connection's share difficulty follows its hashrate so that it
sends about one share per ``interval_s``.

Why this rule:
- The hashrate is measured from the work of accepted shares (Σ difficulty) over a window, the
  same estimate the engine makes, so a retarget never rests on one lucky share: a window
  closes after ``SHARES_PER_WINDOW`` shares or ``WINDOW_INTERVALS`` intervals.
- A new difficulty is a power of two, and only taken when the ideal one is more than twice
  or less than half the current one: Poisson noise in a window of 16 shares moves the
  estimate by about ±25%, which must not cause a retarget every window.
- A connection that sends nothing for ``SILENT_INTERVALS`` intervals has its difficulty
  quartered, so a miner given far too much work is not left without shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

SHARES_PER_WINDOW = 16
WINDOW_INTERVALS = 6
SILENT_INTERVALS = 6


@dataclass
class Vardiff:
    interval_s: float
    window_start: float
    work: Fraction = Fraction(0)  # Σ difficulty of accepted shares in the window
    shares: int = 0

    def restart(self, now: float) -> None:
        self.window_start, self.work, self.shares = now, Fraction(0), 0

    def on_share(self, diff: Fraction, now: float, current: Fraction) -> Fraction | None:
        """Count an accepted share; the difficulty to move to, when a retarget is due."""
        self.work += diff
        self.shares += 1
        return self.due(now, current)

    def due(self, now: float, current: Fraction) -> Fraction | None:
        """The difficulty to move to now, or None (also called on a timer, without shares)."""
        elapsed = now - self.window_start
        if self.shares == 0:
            if elapsed >= SILENT_INTERVALS * self.interval_s:
                self.restart(now)
                return current / 4
            return None
        if self.shares < SHARES_PER_WINDOW and elapsed < WINDOW_INTERVALS * self.interval_s:
            return None
        # shares/s = work / elapsed / current; the ideal difficulty sends one per interval
        ideal = float(self.work) * self.interval_s / max(elapsed, 1e-3)
        self.restart(now)
        if current / 2 <= ideal <= current * 2:
            return None
        return power_of_two(ideal)


def power_of_two(value: float) -> Fraction:
    """The power of two nearest ``value`` (in log scale): exact in a float and in JSON."""
    return Fraction(2) ** round(math.log2(value))
