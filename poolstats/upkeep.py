"""The store's hourly upkeep: pruning history past its retention.

One node runs it on its flush timer (``Service.run_timers``); a cluster runs it in the one
active ``poolstats jobs`` process. (The daily settlement beside it is ``earnings.settlement``.)
"""

from __future__ import annotations

from poolstats.config import Settings
from poolstats.engine.snapshot import Level
from poolstats.store.ports.stats import StatsPort

PRUNE_EVERY_S = 3600.0


def prune(store: StatsPort, settings: Settings, now: float) -> int:
    """Delete history buckets past their retention (``retention_*_s``); rows deleted."""
    retention = {
        (level, period): keep for period, keep in settings.retention().items() for level in Level
    }
    return store.prune(int(now), retention)
