"""Each partition's staleness as an API process judges it from the store."""

from __future__ import annotations

from poolstats.domain.health import stale_after_s
from poolstats.domain.partition_health import LeaseFact, reasons, report

NOW = 1_700_000_000.0
INTERVAL_S = 10.0  # stale after 30 s (three flush intervals)


def test_a_partition_flushed_within_three_intervals_is_fresh_and_one_older_is_stale() -> None:
    limit = stale_after_s(INTERVAL_S)
    assert limit == 30.0
    fresh = report(0, int(NOW - limit), None, NOW, INTERVAL_S)
    stale = report(1, int(NOW - limit - 1), None, NOW, INTERVAL_S)
    assert (fresh.stale, fresh.flush_age_s) == (False, limit)
    assert (stale.stale, stale.flush_age_s) == (True, limit + 1)


def test_a_partition_that_never_flushed_is_stale_with_no_age() -> None:
    r = report(3, None, None, NOW, INTERVAL_S)
    assert (r.stale, r.flush_age_s, r.last_flush) == (True, None, None)
    assert reasons([r], INTERVAL_S) == [
        "partition 3: has never flushed; no aggregator has ever held its lease"
    ]


def test_the_reason_says_whether_the_lease_expired_or_is_held() -> None:
    expired = report(0, int(NOW - 100), LeaseFact("a:1:x", 2, NOW - 1), NOW, INTERVAL_S)
    held = report(1, int(NOW - 100), LeaseFact("b:2:y", 5, NOW + 5), NOW, INTERVAL_S)
    assert (expired.lease_expired, held.lease_expired) == (True, False)
    lines = reasons([expired, held], INTERVAL_S)
    assert lines[0].startswith("partition 0: last flushed 100 s ago (more than 30 s)")
    assert "expired (last holder a:1:x)" in lines[0]
    assert "held by b:2:y" in lines[1]
    assert held.as_json()["lease"] == {"holder": "b:2:y", "expired": False}


def test_fresh_partitions_give_no_reasons() -> None:
    assert reasons([report(0, int(NOW), None, NOW, INTERVAL_S)], INTERVAL_S) == []
