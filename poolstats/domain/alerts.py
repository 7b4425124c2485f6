"""Alert rules (pure): when a hashrate or miners alert fires, repeats and recovers.

Each (sub-account, kind) has a small state machine fed once per evaluator check:

- a check *breaches* when the measured value is below the threshold (a threshold of 0
  therefore never breaches);
- the alert fires after ``BREACHES_TO_FIRE`` consecutive breaching checks, so a single bad
  minute (a pool restart, a miner rebooting) never notifies;
- while firing it repeats at most once per interval, counted from the last notice;
- it recovers after ``CLEARS_TO_RECOVER`` consecutive clear checks, with one recovery notice.
  Hysteresis on both edges keeps a value hovering at the threshold from flapping;
- a disabled alert clears silently: the owner turned it off, a "recovered" notice would
  claim something that was never measured.

Times are unix seconds; the interval is in seconds here (the API speaks hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from poolstats.domain.hashrate import UNITS

BREACHES_TO_FIRE = 2
CLEARS_TO_RECOVER = 2
INTERVAL_MIN_H = 2  # BTC.COM's range for the alert interval, in hours
INTERVAL_MAX_H = 24
INTERVAL_DEFAULT_H = 6  # BTC.COM's "no alert" object shows 6
HOUR_S = 3600

# A hashrate threshold as a decimal in its unit: at most 12 integer digits and 6 decimals,
# so the value is exact as text and far inside a float's range once scaled to H/s.
_THRESHOLD_RE = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")
MINERS_MAX = 10**9
# Units a hashrate threshold may be given in, named as the API prints them ("" is "H").
HASHRATE_UNITS: tuple[str, ...] = tuple(u or "H" for u in UNITS)
HASHRATE_UNIT_DEFAULT = "T"  # BTC.COM's only unit, and its "no alert" object's


class AlertKind(StrEnum):
    HASHRATE = "hashrate"
    MINERS = "miners"
    DELIVERY = "delivery"  # log entries about notices that could not be delivered


class Event(StrEnum):
    FIRED = "fired"
    REPEATED = "repeated"
    RECOVERED = "recovered"
    DELIVERY_FAILED = "delivery_failed"


@dataclass(frozen=True)
class AlertState:
    """Where one alert stands after a check.

    ``breaches``/``clears``: consecutive breaching / clear checks (capped at what the rule
    needs); ``firing``: a fire notice went out and no recovery since; ``last_notified_at``:
    time of the last fire or repeat notice (0 when idle)."""

    breaches: int = 0
    clears: int = 0
    firing: bool = False
    last_notified_at: int = 0


IDLE = AlertState()


def step(
    state: AlertState,
    now: int,
    value: float,
    threshold: float,
    enabled: bool,
    interval_s: int,
) -> tuple[AlertState, Event | None]:
    """One check: the next state and the notice to send (``None``: nothing to say)."""
    if not enabled:
        return IDLE, None
    if value < threshold:
        breaches = min(state.breaches + 1, BREACHES_TO_FIRE)
        if not state.firing:
            if breaches >= BREACHES_TO_FIRE:
                return AlertState(breaches, 0, True, now), Event.FIRED
            return AlertState(breaches=breaches), None
        if now - state.last_notified_at >= interval_s:
            return replace(state, breaches=breaches, clears=0, last_notified_at=now), (
                Event.REPEATED
            )
        return replace(state, breaches=breaches, clears=0), None
    if not state.firing:
        return IDLE, None
    clears = min(state.clears + 1, CLEARS_TO_RECOVER)
    if clears >= CLEARS_TO_RECOVER:
        return IDLE, Event.RECOVERED
    return replace(state, breaches=0, clears=clears), None


def parse_threshold(text: str) -> str:
    """A hashrate threshold as stored: the decimal normalised ("10.50" -> "10.5", "007" ->
    "7"); ``ValueError`` for anything but a plain non-negative decimal."""
    if not _THRESHOLD_RE.fullmatch(text):
        raise ValueError(
            f"a non-negative decimal (at most 12 digits and 6 decimal places), got {text!r}"
        )
    number = Decimal(text)
    return "0" if number == 0 else format(number.normalize(), "f")


def interval_s(hours: int) -> int:
    """The alert interval in seconds; ``ValueError`` outside 2-24 hours."""
    if not INTERVAL_MIN_H <= hours <= INTERVAL_MAX_H:
        raise ValueError(f"from {INTERVAL_MIN_H} to {INTERVAL_MAX_H} hours, got {hours}")
    return hours * HOUR_S
