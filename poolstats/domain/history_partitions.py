"""Which time range of history buckets shares one table partition (PostgreSQL keeps each
history table partitioned by ``(period_s, start)``).

Pruning drops whole partitions, so a partition should hold about as much time as retention
is counted in: short buckets (hourly and below) one UTC day per partition, daily and longer
buckets one UTC calendar month. Pure: the store turns these ranges into DDL.
"""

from __future__ import annotations

import datetime as dt

DAY_S = 86_400


def partition_range(period_s: int, start: int) -> tuple[int, int]:
    """``[lo, hi)`` in unix seconds of the partition holding buckets of ``period_s`` that
    start at ``start``: a UTC day when ``period_s < DAY_S``, else a UTC calendar month."""
    if period_s <= 0:
        raise ValueError("period_s must be positive")
    if period_s < DAY_S:
        lo = start - start % DAY_S
        return lo, lo + DAY_S
    day = dt.datetime.fromtimestamp(start, dt.UTC)
    first = dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)
    following = dt.datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=dt.UTC)
    return int(first.timestamp()), int(following.timestamp())


def partition_name(table: str, period_s: int, lo: int) -> str:
    """The partition's table name: ``<table>_p<period_s>_<lo>`` (``lo`` may be negative)."""
    return f"{table}_p{period_s}_{lo}".replace("-", "m")
