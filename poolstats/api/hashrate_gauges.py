"""The hashrate gauges of ``/metrics``, set at scrape time from the node's window sums: a
node's live engine windows, or an API process's store rows (as of the last flushes).

The pool's hashrate per window is a handful of series. Per sub-account it would be five
series for every sub-account the pool ever had, which Prometheus keeps for each one (label
cardinality): only the ``metrics_top_subaccounts`` busiest by 15m hashrate are shown, and the
per-sub-account gauge is emptied at each scrape so one that drops out of the top leaves it.
"""

from __future__ import annotations

from poolstats.api.node import ApiNode
from poolstats.domain.hashrate import hashrate_hs
from poolstats.engine.windows import WINDOWS_S


def set_hashrate_gauges(node: ApiNode) -> None:
    """Read every window's accepted difficulty and set the gauges in H/s."""
    settings, metrics = node.settings, node.metrics
    label = settings.node()
    diffs = node.window_diffs(settings.metrics_top_subaccounts)
    for window, seconds in WINDOWS_S.items():
        metrics.pool_hashrate.labels(label, window).set(hashrate_hs(diffs.pool[window], seconds))
    metrics.subaccount_hashrate.clear()
    for puid, by_window in diffs.top.items():
        for window, seconds in WINDOWS_S.items():
            rate = hashrate_hs(by_window[window], seconds)
            metrics.subaccount_hashrate.labels(label, str(puid), window).set(rate)
