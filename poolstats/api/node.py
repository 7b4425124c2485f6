"""What the HTTP API needs of the process it runs in: a whole node (``service.Service``:
engine, journal, ingest) or an API process that only reads the store
(``cluster.read_node.ReadNode``). ``create_app`` mounts what the node offers."""

from __future__ import annotations

from typing import Any, Protocol

from poolstats.clock import Clock
from poolstats.config import Settings
from poolstats.domain.hashrate import WindowDiffs
from poolstats.domain.partition_health import PartitionReport
from poolstats.metrics import Metrics
from poolstats.service import Registry
from poolstats.store.sql import SqlStore


class ApiNode(Protocol):
    settings: Settings
    clock: Clock
    metrics: Metrics
    store: SqlStore
    registry: Registry
    takes_shares: bool  # False: POST /ingest/shares answers where to send shares instead

    @property
    def last_flush_at(self) -> float:
        """Unix seconds of the last flush that reached the store (0: none yet)."""
        ...

    def health_report(self) -> tuple[int, dict[str, Any]]:
        """/healthz's status code and body (blocking: called in a thread)."""
        ...

    def scrape_gauges(self) -> None:
        """Set the gauges read at scrape time (blocking: called in a thread)."""
        ...

    def window_diffs(self, top_n: int) -> WindowDiffs: ...

    def partitions(self) -> list[PartitionReport]:
        """Each partition of a cluster: its last flush and the process holding it (blocking:
        called in a thread); empty for a single node, which has none."""
        ...

    async def run_timers(self) -> None:
        """The node's periodic work while the app serves (returns at once when none)."""
        ...

    def close(self) -> None: ...
