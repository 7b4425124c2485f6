"""The failure throttle on a fake clock: ``limit`` failures in ``window_s`` refuse a client
until the oldest of them is a window old; other clients are untouched; memory is bounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolstats.clock import FakeClock
from poolstats.domain.throttle import FailureThrottle


def test_the_limit_th_failure_refuses_until_the_oldest_leaves_the_window() -> None:
    clock = FakeClock(1000.0)
    throttle = FailureThrottle(limit=3, window_s=60.0)
    for step in range(2):
        assert throttle.failed("a", clock.now()) == 0.0
        assert throttle.retry_after("a", clock.now()) == 0.0
        clock.advance(10.0 * (step + 1))  # failures at 1000, 1010, 1030
    assert throttle.failed("a", clock.now()) == pytest.approx(30.0)  # 1000 + 60 - 1030
    clock.advance(29.0)
    assert throttle.retry_after("a", clock.now()) == pytest.approx(1.0)
    clock.advance(1.0)
    assert throttle.retry_after("a", clock.now()) == 0.0
    # one more failure: the window now holds 1010, 1030, 1060 -> refused until 1070
    assert throttle.failed("a", clock.now()) == pytest.approx(10.0)


def test_other_clients_are_never_refused() -> None:
    throttle = FailureThrottle(limit=2, window_s=60.0)
    for _ in range(5):
        throttle.failed("guesser", 0.0)
    assert throttle.retry_after("guesser", 0.0) == 60.0
    assert throttle.retry_after("someone", 0.0) == 0.0
    assert throttle.failed("someone", 0.0) == 0.0


def test_a_clock_set_back_refuses_no_longer_than_a_window() -> None:
    throttle = FailureThrottle(limit=1, window_s=60.0)
    throttle.failed("a", 10_000.0)
    assert throttle.retry_after("a", 0.0) == 60.0


def test_limit_zero_never_refuses() -> None:
    throttle = FailureThrottle(limit=0, window_s=60.0)
    for _ in range(100):
        assert throttle.failed("a", 0.0) == 0.0
    assert throttle.retry_after("a", 0.0) == 0.0 and len(throttle) == 0


def test_memory_is_bounded_dropping_the_least_recent_first() -> None:
    throttle = FailureThrottle(limit=2, window_s=60.0, max_clients=100)
    throttle.failed("old", 0.0)
    throttle.failed("old", 0.0)
    for i in range(1000):
        throttle.failed(f"c{i}", 1.0)
    assert len(throttle) == 100
    assert throttle.retry_after("old", 1.0) == 0.0  # dropped: the least recent
    assert throttle.retry_after("c999", 1.0) == 0.0  # one failure of two
    throttle.failed("c999", 1.0)
    assert throttle.retry_after("c999", 1.0) == 60.0


def test_expired_clients_leave_before_the_table_is_full() -> None:
    throttle = FailureThrottle(limit=2, window_s=60.0, max_clients=100)
    for i in range(50):
        throttle.failed(f"c{i}", 0.0)
    throttle.failed("late", 61.0)  # every earlier failure has left its window
    assert len(throttle) == 1


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 5)), max_size=60),
    st.integers(1, 5),
)
def test_refused_exactly_when_limit_failures_are_within_the_window(
    events: list[tuple[str, float]], limit: int
) -> None:
    """Against a plain count over every failure recorded so far (the model)."""
    window = 10.0
    throttle = FailureThrottle(limit=limit, window_s=window)
    clock = FakeClock(0.0)
    history: dict[str, list[float]] = {}
    for client, step in events:
        now = clock.advance(step)
        if throttle.retry_after(client, now) > 0:  # refused: not even recorded
            recent = [t for t in history[client] if t > now - window]
            assert len(recent) >= limit
            continue
        throttle.failed(client, now)
        history.setdefault(client, []).append(now)
        recent = [t for t in history[client] if t > now - window]
        expected = sorted(recent)[-limit] + window - now if len(recent) >= limit else 0.0
        assert throttle.retry_after(client, now) == pytest.approx(expected)


def test_pending_attempts_count_against_the_limit_until_settled() -> None:
    throttle = FailureThrottle(limit=3, window_s=60.0)
    assert throttle.attempt("a", 0.0) == 0.0
    throttle.failed("a", 0.0)  # one wrong key: from now on its guesses in flight count
    assert [throttle.attempt("a", 0.0) for _ in range(2)] == [0.0, 0.0]
    assert throttle.attempt("a", 0.0) > 0  # a failure and two guesses looked up fill 3
    assert throttle.attempt("b", 0.0) == 0.0  # another client is untouched
    throttle.passed("a")  # a right key: its place is free again
    assert throttle.attempt("a", 0.0) == 0.0
    throttle.passed("a")
    throttle.passed("a")
    for _ in range(3):
        throttle.failed("a", 10.0)
    # failures at 0 and three at 10 (the limit keeps the last 3): refused until 70
    assert throttle.attempt("a", 10.0) == pytest.approx(60.0)
    assert throttle.attempt("a", 70.0) == 0.0


def test_a_client_that_has_not_failed_is_never_held_to_its_requests_in_flight() -> None:
    throttle = FailureThrottle(limit=3, window_s=60.0)
    assert [throttle.attempt("a", 0.0) for _ in range(50)] == [0.0] * 50
    for _ in range(50):
        throttle.passed("a")
    throttle.failed("a", 0.0)
    assert throttle.attempt("a", 61.0) == 0.0  # that failure has left the window
    assert [throttle.attempt("a", 61.0) for _ in range(10)] == [0.0] * 10


def test_a_pending_attempt_makes_the_newer_failures_the_ones_that_must_leave() -> None:
    throttle = FailureThrottle(limit=3, window_s=60.0)
    for t in (0.0, 20.0):
        assert throttle.attempt("a", t) == 0.0
        throttle.failed("a", t)
    assert throttle.attempt("a", 30.0) == 0.0  # pending: with it, one failure may stay
    # failures at 0 and 20 plus one pending fill 3: refused until the one at 0 leaves (60)
    assert throttle.attempt("a", 30.0) == pytest.approx(30.0)
    throttle.passed("a")
    assert throttle.attempt("a", 30.0) == 0.0
