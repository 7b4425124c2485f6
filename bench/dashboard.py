"""The dashboard at farm scale: its worker-list requests on a sub-account of 100,000 workers,
and its pages as a browser loads them.

The store is ``bench.api``'s (1,000,000 workers, 100,000 under the sub-account queried),
served by a real ``poolstats serve`` process. Two measurements:

- **Each request a workers page makes**, as the dashboard makes it (X-Access-Key header, a
  page of 50): every sort the page offers, a status tab, a name search, the last of the 2,000
  pages, and the counts beside them (``/v1/worker/full-stats``). Closed loop on one
  keep-alive connection, after a warm-up: the server's time per answer, p50/p99/max.
- **Each page in Debian's Chromium** (Playwright), a fresh browser context each time (nothing
  cached): the time from navigation to the page's first figure on screen, and the bytes the
  load transferred (the Resource Timing API's ``transferSize``: headers and bodies, every
  request the page made, API answers included, until the network was idle).

``python -m bench.dashboard`` runs only this and prints JSON.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.api import _prepared
from bench.server import serving

WARMUP = 10
REQUESTS = 100
# name -> the /v1/worker parameters of one of the workers page's requests
LISTS: dict[str, dict[str, str | int]] = {
    "by 15m hashrate": {"order_by": "shares_15m", "asc": 0},
    "by name": {"order_by": "worker_name", "asc": 1},
    "by 1h hashrate": {"order_by": "shares_1h", "asc": 0},
    "by 1d hashrate": {"order_by": "shares_1d", "asc": 0},
    "by reject rate": {"order_by": "reject_percent", "asc": 0},
    "by status": {"order_by": "status", "asc": 0},
    "by last share": {"order_by": "last_share_time", "asc": 0},
    "by group": {"order_by": "group", "asc": 1},
    "by IP": {"order_by": "last_share_ip", "asc": 1},
    "inactive tab": {"status": "inactive", "order_by": "shares_15m", "asc": 0},
    "name search": {"filter": "rig0123", "order_by": "shares_15m", "asc": 0},
    "last page by name": {"order_by": "worker_name", "asc": 1, "page": 2000},
}
# page -> (address, what shows its first figure)
PAGES = {
    "pool": ("/#/pool", "#pool-cards [data-figure]"),
    "overview": ("/#/overview", "#sub-cards [data-figure]"),
    "workers": ("/#/workers", "#worker-table tr[data-worker]"),
}
TRANSFERRED = (
    "() => [...performance.getEntriesByType('navigation'), "
    "...performance.getEntriesByType('resource')].reduce((n, e) => n + e.transferSize, 0)"
)


def _latencies(client: httpx.Client, path: str, params: dict[str, Any]) -> dict[str, float]:
    times = []
    for i in range(WARMUP + REQUESTS):
        started = time.perf_counter()
        answer = client.get(path, params=params)
        elapsed = time.perf_counter() - started
        body = answer.json()
        if body.get("err_no") != 0:
            raise RuntimeError(f"{path} {params}: {body}")
        if i >= WARMUP:
            times.append(elapsed * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        "max_ms": round(times[-1], 2),
    }


def _browser(base: str, key: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            for name, (path, first) in PAGES.items():
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                if name != "pool":  # signed in as a tab is: the key in the tab's storage
                    context.add_init_script(f"sessionStorage.setItem('poolstats.key', {key!r})")
                page = context.new_page()
                started = time.perf_counter()
                page.goto(base + path)
                page.wait_for_selector(first)
                shown = time.perf_counter() - started
                page.wait_for_load_state("networkidle")
                out[name] = {
                    "first_figure_s": round(shown, 3),
                    "transferred_bytes": int(page.evaluate(TRANSFERRED)),
                }
                context.close()
        finally:
            browser.close()
    return out


def run(data_dir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = data_dir or Path(tmp)
        made = _prepared(folder, 1.0)
        stats = made["stats"]
        result: dict[str, Any] = {
            "workers": stats["workers"],
            "subaccount_workers": stats["queried_subaccount_workers"],
        }
        with serving(folder) as base:
            headers = {"X-Access-Key": made["access_key"]}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                puid = {"puid": made["puid"], "page_size": 50}
                result["lists"] = {
                    name: _latencies(client, "/v1/worker", {**puid, **params})
                    for name, params in LISTS.items()
                }
                result["lists"]["counts (full-stats)"] = _latencies(
                    client, "/v1/worker/full-stats", {"puid": made["puid"]}
                )
            result["pages"] = _browser(base, made["access_key"])
    worst = max(v["p99_ms"] for v in result["lists"].values())
    result["worst_p99_ms"] = worst
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
