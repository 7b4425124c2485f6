"""Partition ranges of history buckets: a UTC day for short buckets, a calendar month else."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from poolstats.domain.history_partitions import partition_name, partition_range

DAY = 86_400


def utc(*args: int) -> int:
    return calendar.timegm(dt.datetime(*args, tzinfo=dt.UTC).utctimetuple())


@pytest.mark.parametrize("period_s", [300, 900, 3600])
def test_short_buckets_share_their_utc_day(period_s: int) -> None:
    start = utc(2026, 12, 6, 13, 0)
    assert partition_range(period_s, start) == (utc(2026, 12, 6), utc(2026, 12, 7))
    assert partition_range(period_s, utc(2026, 12, 6)) == (utc(2026, 12, 6), utc(2026, 12, 7))
    last = utc(2026, 12, 7) - period_s  # the day's last bucket is still in it
    assert partition_range(period_s, last)[0] == utc(2026, 12, 6)


@pytest.mark.parametrize(
    ("start", "month"),
    [
        (utc(2026, 12, 31), (utc(2026, 12, 1), utc(2027, 1, 1))),  # December rolls the year
        (utc(2024, 2, 29), (utc(2024, 2, 1), utc(2024, 3, 1))),  # a leap day
        (utc(2026, 1, 1), (utc(2026, 1, 1), utc(2026, 2, 1))),
    ],
)
def test_daily_buckets_share_their_utc_month(start: int, month: tuple[int, int]) -> None:
    assert partition_range(DAY, start) == month


def test_ranges_tile_time_without_gaps() -> None:
    for period_s in (3600, DAY):
        _, hi = partition_range(period_s, utc(2026, 11, 15))
        for _ in range(40):
            assert partition_range(period_s, hi)[0] == hi  # the next begins where this ends
            _, hi = partition_range(period_s, hi)


def test_names_are_identifiers_even_before_1970() -> None:
    assert partition_name("history_worker", 3600, 1_700_000_000) == (
        "history_worker_p3600_1700000000"
    )
    assert partition_name("history_pool", DAY, -DAY).isidentifier()
    with pytest.raises(ValueError):
        partition_range(0, 0)
