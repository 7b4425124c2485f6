"""Prometheus metrics of one node (a registry per instance, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
            "Ingest requests refused whole (unauthorised, too large, unreadable).",
            ["reason"],
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
        self.flush_age = Gauge(
            "poolstats_flush_age_seconds",
            "Seconds since the last flush reached the store.",
            registry=r,
        )
        self.journal_seq = Gauge(
            "poolstats_journal_seq", "Sequence number of the newest journaled batch.", registry=r
        )
