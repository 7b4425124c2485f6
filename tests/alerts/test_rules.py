"""The alert state machine: two breaching checks to fire, one notice per interval while it
lasts, two clear checks to recover; and the threshold and interval rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolstats.domain.alerts import (
    HASHRATE_UNITS,
    IDLE,
    AlertState,
    Event,
    interval_s,
    parse_threshold,
    step,
)

T = 1_700_000_000
HOURS_2 = 7200
LOW, HIGH, THRESHOLD = 5.0, 15.0, 10.0


def run(values: list[float], start: int = T, every: int = 60, interval: int = HOURS_2) -> list:
    """Events of checks ``every`` seconds apart with these measured values."""
    state, events = IDLE, []
    for i, value in enumerate(values):
        state, event = step(state, start + i * every, value, THRESHOLD, True, interval)
        events.append(event)
    return events


def test_one_breaching_check_notifies_nothing_two_fire() -> None:
    assert run([LOW]) == [None]
    assert run([LOW, LOW]) == [None, Event.FIRED]


def test_breaches_must_be_consecutive_to_fire() -> None:
    assert run([LOW, HIGH, LOW, HIGH, LOW]) == [None] * 5


def test_value_equal_to_threshold_is_not_a_breach_and_zero_threshold_never_fires() -> None:
    assert run([THRESHOLD] * 5) == [None] * 5
    state = IDLE
    for i in range(5):
        state, event = step(state, T + 60 * i, 0.0, 0.0, True, HOURS_2)
        assert event is None


def test_firing_repeats_once_per_interval_counted_from_the_last_notice() -> None:
    # fire at check 1 (T+60); reminders at T+60+7200 = check 121, then check 241
    events = run([LOW] * 242)
    notices = {i: e for i, e in enumerate(events) if e is not None}
    assert notices == {1: Event.FIRED, 121: Event.REPEATED, 241: Event.REPEATED}


def test_recovery_needs_two_clear_checks_and_comes_once() -> None:
    events = run([LOW, LOW, HIGH, HIGH, HIGH, HIGH])
    assert events == [None, Event.FIRED, None, Event.RECOVERED, None, None]


def test_one_clear_check_while_firing_neither_recovers_nor_resets_the_reminder_clock() -> None:
    events = run([LOW, LOW] + [HIGH] + [LOW] * 119, every=60)
    # fired at T+60; the blip at T+120 is not a recovery; the reminder still comes at T+7260
    assert events[1] == Event.FIRED
    assert events[3:121] == [None] * 118 and events[121] == Event.REPEATED


def test_clear_checks_before_a_fire_recover_nothing() -> None:
    assert run([HIGH, LOW, HIGH, HIGH]) == [None] * 4


def test_disabling_while_firing_clears_silently() -> None:
    state, event = step(IDLE, T, LOW, THRESHOLD, True, HOURS_2)
    state, event = step(state, T + 60, LOW, THRESHOLD, True, HOURS_2)
    assert event is Event.FIRED and state.firing
    state, event = step(state, T + 120, LOW, THRESHOLD, False, HOURS_2)
    assert (state, event) == (IDLE, None)
    # enabled again: it starts over and needs two breaching checks
    state, event = step(state, T + 180, LOW, THRESHOLD, True, HOURS_2)
    assert event is None
    assert step(state, T + 240, LOW, THRESHOLD, True, HOURS_2)[1] is Event.FIRED


def test_fire_records_when_it_notified() -> None:
    state, _ = step(AlertState(breaches=1), T, LOW, THRESHOLD, True, HOURS_2)
    assert state == AlertState(breaches=2, clears=0, firing=True, last_notified_at=T)


checks = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=4 * 3600),  # seconds since the previous check
        st.sampled_from([0.0, LOW, THRESHOLD, HIGH]),
        st.booleans().map(lambda off: not off) | st.just(True),  # mostly enabled
    ),
    max_size=300,
)


@given(checks, st.integers(min_value=2, max_value=24))
def test_notices_obey_the_rules_whatever_the_values(
    seq: list[tuple[int, float, bool]], hours: int
) -> None:
    interval = interval_s(hours)
    state, now = IDLE, T
    history: list[tuple[int, float, bool, Event | None]] = []
    for gap, value, enabled in seq:
        now += gap
        state, event = step(state, now, value, THRESHOLD, enabled, interval)
        history.append((now, value, enabled, event))

    firing_since: int | None = None  # time of the last fire/repeat while firing
    for i, (at, value, enabled, event) in enumerate(history):
        previous = history[i - 1] if i else None
        if event is Event.FIRED:
            assert firing_since is None, "fired twice without a recovery"
            assert enabled and value < THRESHOLD
            assert previous is not None and previous[2] and previous[1] < THRESHOLD
            firing_since = at
        elif event is Event.REPEATED:
            assert firing_since is not None, "a reminder without a fire"
            assert at - firing_since >= interval, "two notices within an interval"
            assert value < THRESHOLD
            firing_since = at
        elif event is Event.RECOVERED:
            assert firing_since is not None, "a recovery that follows no fire"
            assert value >= THRESHOLD and previous is not None and previous[1] >= THRESHOLD
            firing_since = None
        if not enabled:
            assert event is None
            firing_since = None  # cleared silently
        elif event is None and firing_since is not None and value < THRESHOLD:
            assert at - firing_since < interval, "a reminder was due and not sent"


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("10", "10"),
        ("10.50", "10.5"),
        ("007", "7"),
        ("0", "0"),
        ("0.000", "0"),
        ("1.000001", "1.000001"),
    ],
)
def test_threshold_is_stored_normalised(text: str, stored: str) -> None:
    assert parse_threshold(text) == stored


@pytest.mark.parametrize(
    "text", ["", "-1", "1e3", "1.", ".5", " 1", "1,5", "nan", "١", "1.0000001"]
)
def test_threshold_refuses_anything_but_a_plain_decimal(text: str) -> None:
    with pytest.raises(ValueError):
        parse_threshold(text)


def test_interval_is_2_to_24_hours() -> None:
    assert (interval_s(2), interval_s(24)) == (7200, 86400)
    for hours in (1, 25, 0, -3):
        with pytest.raises(ValueError):
            interval_s(hours)


def test_hashrate_units_are_the_api_units() -> None:
    assert HASHRATE_UNITS == ("H", "K", "M", "G", "T", "P", "E", "Z")
