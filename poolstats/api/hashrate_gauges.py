"""The hashrate gauges of ``/metrics``, set from the engine's live windows at scrape time.

The pool's hashrate per window is a handful of series. Per sub-account it would be five
series for every sub-account the pool ever had, which Prometheus keeps for each one (label
cardinality): only the ``metrics_top_subaccounts`` busiest by 15m hashrate are shown, and the
per-sub-account gauge is emptied at each scrape so one that drops out of the top leaves it.
"""

from __future__ import annotations

import numpy as np

from poolstats.domain.hashrate import hashrate_hs
from poolstats.engine.windows import WINDOWS_S
from poolstats.service import Service

RANKED_BY = "15m"


def set_hashrate_gauges(service: Service) -> None:
    """Read every window's accepted difficulty at the clock's now (under the ingest lock, as
    a batch is applied) and set the gauges in H/s."""
    settings, metrics = service.settings, service.metrics
    node = settings.node()
    with service.ingestor.lock:
        engine = service.engine
        engine.advance(service.clock.now())  # windows slide even when no share arrives
        pool = {w: float(engine.p_live.window("accept", w)[0]) for w in WINDOWS_S}
        top: dict[int, dict[str, float]] = {}
        if settings.metrics_top_subaccounts > 0 and len(engine.subs):
            ranked = engine.s_live.window("accept", RANKED_BY)[: len(engine.subs)]
            order = np.argsort(-ranked, kind="stable")[: settings.metrics_top_subaccounts]
            rows = order[ranked[order] > 0].astype(np.int64)
            puids = engine.subs.puid_array()[rows]
            sums = {w: engine.s_live.window("accept", w, rows) for w in WINDOWS_S}
            top = {
                int(puid): {w: float(sums[w][i]) for w in WINDOWS_S}
                for i, puid in enumerate(puids.tolist())
            }
    for window, seconds in WINDOWS_S.items():
        metrics.pool_hashrate.labels(node, window).set(hashrate_hs(pool[window], seconds))
    metrics.subaccount_hashrate.clear()
    for puid, by_window in top.items():
        for window, seconds in WINDOWS_S.items():
            rate = hashrate_hs(by_window[window], seconds)
            metrics.subaccount_hashrate.labels(node, str(puid), window).set(rate)
