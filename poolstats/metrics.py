"""Prometheus metrics of one node (a registry per instance, so tests can run several)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_SUFFIX = {Counter: "_total", Histogram: "_bucket, _sum, _count"}


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.shares_accepted = Counter(
            "poolstats_shares_accepted", "Share events accepted by ingest.", ["format"], registry=r
        )
        self.shares_refused = Counter(
            "poolstats_shares_refused",
            "Share events refused by ingest, by the field at fault.",
            ["field"],
            registry=r,
        )
        self.requests_refused = Counter(
            "poolstats_ingest_requests_refused",
            "Ingest requests refused whole (unauthorised, throttled, too large, unreadable).",
            ["reason"],
            registry=r,
        )
        self.http_connections = Gauge(
            "poolstats_http_connections", "Open HTTP connections.", registry=r
        )
        self.http_closed = Counter(
            "poolstats_http_connections_closed",
            "HTTP connections the server closed on its own, by reason: header_timeout (no "
            "complete request headers in time), body_timeout (no complete request body in "
            "time), idle (keep-alive), unread_body (answered before its body was read), "
            "evicted_address / evicted_total (made room for a new connection beyond a cap), "
            "refused_address / refused_total (a new connection beyond a cap while all within "
            "it were busy).",
            ["reason"],
            registry=r,
        )
        self.auth_failures = Counter(
            "poolstats_auth_failures",
            "Requests with a wrong key, by kind: access_key, ingest_token.",
            ["kind"],
            registry=r,
        )
        self.auth_throttled = Counter(
            "poolstats_auth_throttled",
            "Keyed requests refused with 429 because their client sent too many wrong keys, "
            "by kind.",
            ["kind"],
            registry=r,
        )
        self.ingest_bytes = Counter(
            "poolstats_ingest_bytes", "Bytes of ingest request bodies.", registry=r
        )
        self.share_lag = Gauge(
            "poolstats_share_lag_seconds",
            "Receive time minus the newest share time of the last batch.",
            registry=r,
        )
        self.flush_seconds = Histogram(
            "poolstats_flush_seconds",
            "Time to write one flush to the store.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.checkpoint_seconds = Histogram(
            "poolstats_checkpoint_seconds",
            "Time to save the engine state.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.workers_by_status = Gauge(
            "poolstats_workers",
            "Workers the engine tracks, by status (DEAD ones leave it after a day).",
            ["status"],
            registry=r,
        )
        self.flushed_workers = Counter(
            "poolstats_flushed_workers", "Worker rows written by flushes.", registry=r
        )
        self.workers_tracked = Gauge(
            "poolstats_workers_tracked", "Workers held in the realtime engine.", registry=r
        )
        self.partition_flush_age = Gauge(
            "poolstats_partition_flush_age_seconds",
            "An API process: seconds since each partition's last flush reached the store "
            "(its pool_stats row); read at scrape time.",
            ["partition"],
            registry=r,
        )
        self.flush_age = Gauge(
            "poolstats_flush_age_seconds",
            "Seconds since the last flush reached the store.",
            registry=r,
        )
        self.journal_seq = Gauge(
            "poolstats_journal_seq", "Sequence number of the newest journaled batch.", registry=r
        )
        self.journal_damaged_records = Counter(
            "poolstats_journal_damaged_records",
            "Acknowledged journal records found damaged and skipped by start-up replay (the "
            "log names them; their bytes are kept in journal/damaged/).",
            registry=r,
        )
        self.settled_through = Gauge(
            "poolstats_settled_through_seconds",
            "Start (unix seconds) of the newest settled UTC day; 0 before the first.",
            registry=r,
        )
        self.settlement_failures = Counter(
            "poolstats_settlement_failures",
            "Daily settlements that failed (retried an hour later).",
            registry=r,
        )
        self.earnings_settled = Counter(
            "poolstats_earnings_settled_sat",
            "Satoshis settled into sub-accounts' earnings by this process.",
            registry=r,
        )
        self.alert_notices = Counter(
            "poolstats_alert_notices", "Alert notices produced, by event.", ["event"], registry=r
        )
        self.alert_delivery_failures = Counter(
            "poolstats_alert_delivery_failures",
            "Alert deliveries that failed after their retries, by channel.",
            ["channel"],
            registry=r,
        )

        self.blocks = Counter(
            "poolstats_blocks",
            "Blocks found and sent to the node (submitted), and the node's verdicts (accepted, "
            "rejected), by status.",
            ["status"],
            registry=r,
        )

        self.pool_hashrate = Gauge(
            "poolstats_pool_hashrate_hs",
            "The pool's hashrate seen by this node, H/s (accepted share difficulty x 2^32 / "
            "window), by trailing window (1m, 5m, 15m, 1h, 1d); read at scrape time.",
            ["node", "window"],
            registry=r,
        )
        self.subaccount_hashrate = Gauge(
            "poolstats_subaccount_hashrate_hs",
            "Hashrate of the metrics_top_subaccounts busiest sub-accounts (by 15m), H/s, by "
            "window; a sub-account that leaves the top ones leaves the metric.",
            ["node", "puid", "window"],
            registry=r,
        )

        self.stratum_connections = Gauge(
            "poolstats_stratum_connections", "Open stratum connections.", registry=r
        )
        self.stratum_submits = Counter(
            "poolstats_stratum_submits",
            "mining.submit answers, by result: accepted, or the error (stale, duplicate, "
            "low_difficulty, unauthorized, not_subscribed, other).",
            ["result"],
            registry=r,
        )
        self.stratum_submit_seconds = Histogram(
            "poolstats_stratum_submit_seconds",
            "Time from a mining.submit read to its answer (the share journaled first).",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
            registry=r,
        )
        self.stratum_bans = Counter(
            "poolstats_stratum_bans",
            "Addresses banned for flooding bad requests or shares.",
            registry=r,
        )

    def markdown(self) -> str:
        """The table of docs/metrics.md (a test keeps the two equal)."""
        return markdown(vars(self).values())


def markdown(metrics: Iterable[object], title: str = "metric") -> str:
    """A table of the metrics among ``metrics``, in their order (other objects skipped)."""
    rows = [f"| {title} | type | labels | what |", "|---|---|---|---|"]
    for metric in metrics:
        if not isinstance(metric, Counter | Gauge | Histogram):
            continue
        (family,) = metric.describe()
        suffix = _SUFFIX.get(type(metric), "")
        name = f"`{family.name}`" + (f" ({suffix})" if suffix else "")
        # label names have no public accessor before a sample exists
        labels = ", ".join(f"`{label}`" for label in metric._labelnames)
        rows.append(f"| {name} | {family.type} | {labels} | {family.documentation} |")
    return "\n".join(rows) + "\n"
