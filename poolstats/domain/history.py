"""Share-history series: which UTC buckets a request covers and what each point shows.

Both dialects ask for ``count`` points of ``period_s`` from ``start_ts`` (negative: that many
seconds before now). The first bucket is the one holding ``start_ts`` (UTC-aligned, so daily
buckets start at 00:00 UTC). They differ in what they show:

- BTC.COM labels a point with its bucket's start and may show the open bucket: during its
  first 5 minutes it is left out, afterwards its difficulty is spread over the whole bucket
  (the old rule, which reads low); with ``real_point`` it is spread over the seconds elapsed.
- Tangpool labels a point with its bucket's end and shows closed buckets only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from poolstats.domain.hashrate import (
    four_significant,
    hashrate_hs,
    percent_text,
    pick_unit,
    reject_fraction,
)

OPEN_BUCKET_HIDDEN_S = 300  # BTC.COM's old rule: the open bucket shows after 5 minutes

#: Difficulty sums of one bucket by its start: (accepted, rejected incl. stale).
BucketSums = Mapping[int, tuple[float, float]]


def bucket_sums(rows: Iterable[Mapping[str, Any]]) -> dict[int, tuple[float, float]]:
    """Stored history rows (start, accept, reject, stale) as :data:`BucketSums`."""
    return {int(r["start"]): (r["accept"], r["reject"] + r["stale"]) for r in rows}


@dataclass(frozen=True)
class Span:
    """The bucket starts a request covers: ``first``, ``first + period_s`` ... below ``stop``."""

    first: int
    stop: int
    period_s: int

    def starts(self) -> range:
        return range(self.first, self.stop, self.period_s)


def absolute_start(start_ts: int, now: int) -> int:
    """``start_ts`` as unix seconds: a negative value counts back from ``now``."""
    return now + start_ts if start_ts < 0 else start_ts


def btccom_span(start_ts: int, count: int, period_s: int, now: int) -> Span:
    """Up to ``count`` buckets from the one holding ``start_ts``, none starting after now."""
    first = absolute_start(start_ts, now) // period_s * period_s
    current = now // period_s * period_s
    stop = min(first + count * period_s, current + period_s)
    return Span(first, max(stop, first), period_s)


def tangpool_span(start_ts: int, count: int, period_s: int, now: int) -> Span:
    """Up to ``count`` closed buckets from the one holding ``start_ts``."""
    first = absolute_start(start_ts, now) // period_s * period_s
    closed_stop = now // period_s * period_s  # buckets before this one have ended
    stop = min(first + count * period_s, closed_stop)
    return Span(first, max(stop, first), period_s)


def btccom_tickers(
    sums: BucketSums, span: Span, now: int, real_point: bool
) -> tuple[str, list[list[str | None]]]:
    """``(shares_unit, tickers)`` with tickers ``[start, accept, reject_percent]`` as strings,
    ``[start, None, None]`` for a bucket without data."""
    points: list[tuple[int, float, float] | tuple[int, None, None]] = []
    for start in span.starts():
        seconds = span.period_s
        if start + span.period_s > now:  # the open bucket
            elapsed = now - start
            if real_point:
                seconds = max(elapsed, 1)
            elif elapsed < OPEN_BUCKET_HIDDEN_S:
                break
        found = sums.get(start)
        if found is None:
            points.append((start, None, None))
        else:
            accepted, rejected = found
            points.append(
                (start, hashrate_hs(accepted, seconds), reject_fraction(accepted, rejected))
            )
    unit, size = pick_unit([p[1] for p in points if p[1] is not None])
    tickers: list[list[str | None]] = [
        [str(start), None, None]
        if rate is None or fraction is None
        else [str(start), four_significant(rate / size), percent_text(fraction)]
        for start, rate, fraction in points
    ]
    return unit, tickers


def tangpool_share(sums: BucketSums, span: Span) -> tuple[str, dict[str, dict[str, str] | None]]:
    """``(unit, share)``: accept and reject hashrates with 3 decimals keyed by bucket end,
    ``None`` for a bucket without data."""
    rates = {
        start: (
            hashrate_hs(sums[start][0], span.period_s),
            hashrate_hs(sums[start][1], span.period_s),
        )
        for start in span.starts()
        if start in sums
    }
    unit, size = pick_unit([v for pair in rates.values() for v in pair])
    share: dict[str, dict[str, str] | None] = {}
    for start in span.starts():
        pair = rates.get(start)
        end = str(start + span.period_s)
        share[end] = (
            None
            if pair is None
            else {"accept": f"{pair[0] / size:.3f}", "reject": f"{pair[1] / size:.3f}"}
        )
    return unit, share
