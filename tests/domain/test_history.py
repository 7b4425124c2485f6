"""Share-history series: bucket spans and the points both dialects show."""

from __future__ import annotations

from poolstats.domain.history import (
    Span,
    absolute_start,
    btccom_span,
    btccom_tickers,
    bucket_sums,
    tangpool_share,
    tangpool_span,
)

H = 3600
DAY0 = 1_700_006_400  # 2023-11-15 00:00:00 UTC (a multiple of 86400)
NOW = DAY0 + 5 * H + 1200  # 05:20 UTC


def test_negative_start_counts_back_from_now() -> None:
    assert absolute_start(-3600, NOW) == NOW - 3600
    assert absolute_start(DAY0, NOW) == DAY0


def test_btccom_span_starts_at_the_bucket_holding_start_and_stops_at_the_open_one() -> None:
    span = btccom_span(DAY0 + 1800, 100, H, NOW)  # 00:30 lies in the 00:00 bucket
    assert list(span.starts()) == [DAY0 + h * H for h in range(6)]  # 00:00 ... 05:00 (open)
    assert list(btccom_span(DAY0, 2, H, NOW).starts()) == [DAY0, DAY0 + H]
    assert list(btccom_span(NOW + H, 5, H, NOW).starts()) == []  # nothing in the future


def test_daily_buckets_start_at_midnight_utc() -> None:
    span = btccom_span(-3 * 86400, 10, 86400, NOW)
    assert list(span.starts()) == [DAY0 - 3 * 86400, DAY0 - 2 * 86400, DAY0 - 86400, DAY0]


def test_tickers_give_hashrate_over_the_bucket_and_null_where_nothing_was_stored() -> None:
    span = Span(DAY0, DAY0 + 3 * H, H)
    # 3600 s at 1e12 H/s is 3600e12 / 2**32 difficulty; 1 % of the work rejected
    diff = 3600e12 / 2**32
    sums = {DAY0: (diff, diff / 99), DAY0 + 2 * H: (diff / 2, 0.0)}
    unit, tickers = btccom_tickers(sums, span, NOW, real_point=False)
    assert unit == "T"
    assert tickers == [
        [str(DAY0), "1.000", "1.00"],
        [str(DAY0 + H), None, None],
        [str(DAY0 + 2 * H), "0.5000", "0.00"],
    ]


def test_open_bucket_is_hidden_for_5_minutes_then_spread_over_the_whole_bucket() -> None:
    start = DAY0 + 5 * H
    span = Span(start - H, start + H, H)
    diff = 600e9 / 2**32 * 1200  # 1200 s at 600 GH/s
    sums = {start - H: (diff * 3, 0.0), start: (diff, 0.0)}
    _, early = btccom_tickers(sums, span, start + 299, real_point=False)
    assert [t[0] for t in early] == [str(start - H)]
    unit, late = btccom_tickers(sums, span, start + 1200, real_point=False)
    assert unit == "G"
    assert late[1] == [str(start), "200.0", "0.00"]  # 1200 s of work over 3600 s


def test_real_point_spreads_the_open_bucket_over_the_seconds_elapsed() -> None:
    start = DAY0 + 5 * H
    span = Span(start, start + H, H)
    diff = 600e9 / 2**32 * 1200
    unit, tickers = btccom_tickers({start: (diff, 0.0)}, span, start + 1200, real_point=True)
    assert (unit, tickers) == ("G", [[str(start), "600.0", "0.00"]])
    _, first_seconds = btccom_tickers({}, span, start + 10, real_point=True)
    assert first_seconds == [[str(start), None, None]]


def test_tangpool_keys_points_by_interval_end_and_shows_closed_intervals_only() -> None:
    # The spec's example: 15m, start_ts -3600, count 4 -> the four ends of the last hour.
    now = 1421377200 + 100
    span = tangpool_span(-3600, 4, 900, now)
    ends = [s + 900 for s in span.starts()]
    assert ends == [1421374500, 1421375400, 1421376300, 1421377200]
    # 5m, -10800, 36: the spec's 36 keys from 1421366700 to 1421377200
    span5 = tangpool_span(-10800, 36, 300, now)
    assert [s + 300 for s in span5.starts()] == list(range(1421366700, 1421377201, 300))


def test_tangpool_values_have_three_decimals_in_one_unit_and_null_gaps() -> None:
    span = Span(0, 1800, 900)
    accept = 1.477e12 * 900 / 2**32
    reject = 0.029e12 * 900 / 2**32
    unit, share = tangpool_share({0: (accept, reject)}, span)
    assert unit == "T"
    assert share == {"900": {"accept": "1.477", "reject": "0.029"}, "1800": None}


def test_bucket_sums_count_stale_shares_as_rejected() -> None:
    rows = [{"start": 3600, "accept": 10.0, "reject": 1.5, "stale": 0.5, "puid": 1}]
    assert bucket_sums(rows) == {3600: (10.0, 2.0)}
