"""A server-rendered dashboard: the pool, its busiest sub-accounts, a sub-account's workers.

Read from the store (as API replicas do), refreshed by the browser every flush interval.
No script and no front-end library: it works in any browser and in a screenshot test.
"""

from __future__ import annotations

import html
import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from poolstats.domain.hashrate import (
    four_significant,
    hashrate_hs,
    percent_text,
    pick_unit,
    reject_fraction,
)
from poolstats.domain.status import worker_status
from poolstats.service import Service

router = APIRouter()
WINDOWS = (("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("1d", 86400))

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2430;background:#f6f7f9}
h1{font-size:1.4rem;margin:0 0 .2rem} h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
.muted{color:#6b7480} .cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{background:#fff;border-radius:8px;padding:.8rem 1rem;min-width:8rem;
  box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:1.3rem} table{border-collapse:collapse;background:#fff;width:100%}
th,td{padding:.35rem .6rem;text-align:right;border-bottom:1px solid #e5e7eb}
th:first-child,td:first-child{text-align:left} a{color:#1f5fbf;text-decoration:none}
.ACTIVE{color:#12805c} .INACTIVE{color:#b7791f} .DEAD{color:#c53030}
"""


def _rate(diff_sum: float, window_s: int) -> float:
    return hashrate_hs(diff_sum, window_s)


def _fmt(value_hs: float) -> str:
    unit, size = pick_unit([value_hs])
    return f"{four_significant(value_hs / size)} {unit}H/s"


def _reject_pct(row: dict[str, Any]) -> str:
    rejected = row["reject_15m"] + row["stale_15m"]
    return f"{percent_text(reject_fraction(row['accept_15m'], rejected))} %"


def _ago(now: float, ts: int) -> str:
    if not ts:
        return "never"
    seconds = int(now - ts)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _page(title: str, body: str, refresh_s: float) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{max(2, int(refresh_s))}">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{body}"
        "</body></html>"
    )


@router.get("/", response_class=HTMLResponse, summary="Dashboard", include_in_schema=False)
async def dashboard(request: Request, puid: int | None = Query(None, ge=1)) -> HTMLResponse:
    service: Service = request.app.state.service
    store, settings = service.store, service.settings
    now = service.clock.now()
    pool = store.pool_stats()
    parts = [
        '<h1>poolstats</h1><p class="muted">'
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(now))} · "
        f"store updated {_ago(now, int(service.last_flush_at))}"
        "</p>"
    ]
    if pool is None:
        parts.append("<p>No shares yet: send some to <code>POST /ingest/shares</code>.</p>")
        return HTMLResponse(_page("poolstats", "".join(parts), settings.flush_interval_s))
    cards = [
        f'<div class="card">{w}<b>{_fmt(_rate(pool["accept_" + w], s))}</b></div>'
        for w, s in WINDOWS
    ]
    cards.append(f'<div class="card">reject 15m<b>{_reject_pct(pool)}</b></div>')
    cards.append(f'<div class="card">active workers<b>{pool["workers_active"]:,}</b></div>')
    cards.append(f'<div class="card">active sub-accounts<b>{pool["users_active"]:,}</b></div>')
    parts.append(f'<h2>Pool</h2><div class="cards">{"".join(cards)}</div>')
    if puid is None:
        rows = [
            f'<tr><td><a href="/?puid={r["puid"]}">{html.escape(r["name"])}</a></td>'
            f"<td>{r['puid']}</td><td>{_fmt(_rate(r['accept_15m'], 900))}</td>"
            f"<td>{_fmt(_rate(r['accept_1d'], 86400))}</td><td>{_reject_pct(r)}</td>"
            f"<td>{r['workers_active']:,}</td></tr>"
            for r in store.top_subaccounts(50)
        ]
        parts.append(
            "<h2>Sub-accounts</h2><table><tr><th>name</th><th>puid</th><th>hashrate 15m</th>"
            "<th>hashrate 1d</th><th>reject 15m</th><th>active workers</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    else:
        rows = []
        for w in store.top_workers(puid, 100):
            status = worker_status(
                w["last_accept_time"], now, settings.active_s, settings.inactive_s
            )
            rows.append(
                f"<tr><td>{html.escape(w['worker_name'])}</td><td>{w['worker_id']}</td>"
                f"<td>{_fmt(_rate(w['accept_1m'], 60))}</td>"
                f"<td>{_fmt(_rate(w['accept_15m'], 900))}</td>"
                f"<td>{_fmt(_rate(w['accept_1d'], 86400))}</td><td>{_reject_pct(w)}</td>"
                f'<td class="{status}">{status}</td><td>{_ago(now, w["last_share_time"])}</td>'
                f"<td>{html.escape(w['last_share_ip'])}</td></tr>"
            )
        parts.append(
            f'<h2><a href="/">Sub-accounts</a> › puid {puid}: busiest workers</h2><table><tr>'
            "<th>worker</th><th>worker_id</th><th>1m</th><th>15m</th><th>1d</th>"
            "<th>reject 15m</th><th>status</th><th>last share</th><th>IP</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    return HTMLResponse(_page("poolstats", "".join(parts), settings.flush_interval_s))
