"""A server-rendered dashboard: the pool for anyone; an access key's sub-accounts and their
busiest workers for its holder.

Read from the store (as API replicas do), refreshed by the browser every flush interval.
No script and no front-end library: it works in any browser and in a screenshot test.
"""

from __future__ import annotations

import html
import os
import socket
import time
import urllib.parse
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from poolstats.api.auth import Throttled, client_host
from poolstats.api.node import ApiNode
from poolstats.api.threads import read
from poolstats.domain.earnings import btc_text
from poolstats.domain.hashrate import (
    hashrate_hs,
    hashrate_text,
    percent_text,
    reject_fraction,
)
from poolstats.domain.partition_health import PartitionReport
from poolstats.domain.status import worker_status
from poolstats.store import ledger

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


_KEY_FORM = (
    '<form method="get"><label>Access key <input name="access_key" size="36" '
    'autocomplete="off"></label> <button>Show my workers</button></form>'
)


@router.get("/", response_class=HTMLResponse, summary="Dashboard", include_in_schema=False)
async def dashboard(
    request: Request,
    access_key: str | None = Query(None, max_length=256),
    puid: int | None = Query(None, ge=1),
) -> HTMLResponse:
    """The pool's figures for anyone (they are public in the API too); sub-accounts and
    workers only for the access key that opens them."""
    service: ApiNode = request.app.state.service
    store, settings = service.store, service.settings
    now = service.clock.now()
    pool = await read(request, store.pool_stats)
    parts = [
        '<h1>poolstats</h1><p class="muted">'
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(now))} · "
        f"store updated {_ago(now, int(service.last_flush_at))}"
        "</p>"
    ]
    if pool is None:
        parts.append("<p>No shares yet: send some to <code>POST /ingest/shares</code>.</p>")
    else:
        parts.append(_pool_cards(pool))
    reports = await read(request, service.partitions)
    if reports:
        parts.append(_cluster(reports, now))
    if not access_key:
        parts.append(f"<h2>Your sub-accounts</h2>{_KEY_FORM}")
        return HTMLResponse(_page("poolstats", "".join(parts), settings.flush_interval_s))
    grants = request.app.state.grants
    try:  # the key form is a way to guess keys too: the same throttle as the API's
        with grants.guard.attempt(client_host(request)) as attempt:
            grant = await read(request, grants.get, access_key)
            attempt.wrong = grant is None
    except Throttled as exc:
        parts.append(f"<p>{html.escape(str(exc))}.</p>")
        page = _page("poolstats", "".join(parts), settings.flush_interval_s)
        return HTMLResponse(page, 429, headers={"Retry-After": str(exc.retry_after_s)})
    if grant is None:
        parts.append(f"<p>Unknown or revoked access key.</p>{_KEY_FORM}")
        return HTMLResponse(
            _page("poolstats", "".join(parts), settings.flush_interval_s), status_code=403
        )
    chosen = puid or grant.puids[0]
    if chosen not in grant.puids:
        parts.append("<p>That sub-account is not one this access key opens.</p>")
        return HTMLResponse(
            _page("poolstats", "".join(parts), settings.flush_interval_s), status_code=403
        )
    key_q = urllib.parse.quote(access_key, safe="")
    parts.append(await read(request, _key_sections, service, grant.puids, chosen, key_q, now))
    return HTMLResponse(_page("poolstats", "".join(parts), settings.flush_interval_s))


def _cluster(reports: list[PartitionReport], now: float) -> str:
    """Which process counts which partition, and how fresh its figures are; and which
    process served this page (an API replica of a cluster)."""
    rows = "".join(
        f"<tr><td>{r.partition}</td><td>{html.escape(r.lease_holder or 'none')}"
        f"{' (expired)' if r.lease_expired else ''}</td>"
        f"<td>{_ago(now, r.last_flush) if r.last_flush else 'never'}</td>"
        f"<td>{'stale' if r.stale else 'ok'}</td></tr>"
        for r in reports
    )
    return (
        "<h2>Cluster</h2><table><tr><th>partition</th><th>counted by (host:pid)</th>"
        f"<th>last flush</th><th>status</th></tr>{rows}</table>"
        f'<p class="muted">this page: API replica {html.escape(socket.gethostname())}:'
        f"{os.getpid()}</p>"
    )


def _key_sections(
    service: ApiNode, puids: tuple[int, ...], chosen: int, key_q: str, now: float
) -> str:
    """What a key opens: its sub-accounts, then the chosen one's earnings and workers (store
    reads, so in a worker thread)."""
    return (
        _subaccounts(service, puids, key_q)
        + _earnings(service, chosen, now)
        + _workers(service, chosen, now)
    )


def _pool_cards(pool: dict[str, Any]) -> str:
    cards = [
        f'<div class="card">{w}<b>{hashrate_text(_rate(pool["accept_" + w], s))}</b></div>'
        for w, s in WINDOWS
    ]
    cards.append(f'<div class="card">reject 15m<b>{_reject_pct(pool)}</b></div>')
    cards.append(f'<div class="card">active workers<b>{pool["workers_active"]:,}</b></div>')
    cards.append(f'<div class="card">active sub-accounts<b>{pool["users_active"]:,}</b></div>')
    return f'<h2>Pool</h2><div class="cards">{"".join(cards)}</div>'


def _subaccounts(service: ApiNode, puids: tuple[int, ...], key_q: str) -> str:
    rows = []
    for puid in puids:
        profile = service.store.subaccount_profile(puid)
        stats = service.store.subaccount_stats(puid)
        name = html.escape(profile["name"] if profile else str(puid))
        figures = (
            f"<td>{hashrate_text(_rate(stats['accept_15m'], 900))}</td>"
            f"<td>{hashrate_text(_rate(stats['accept_1d'], 86400))}</td>"
            f"<td>{_reject_pct(stats)}</td>"
            f"<td>{stats['workers_active']:,}</td>"
            if stats
            else "<td>-</td><td>-</td><td>-</td><td>0</td>"
        )
        rows.append(
            f'<tr><td><a href="/?access_key={key_q}&amp;puid={puid}">{name}</a></td>'
            f"<td>{puid}</td>{figures}</tr>"
        )
    return (
        "<h2>Your sub-accounts</h2><table><tr><th>name</th><th>puid</th><th>hashrate 15m</th>"
        "<th>hashrate 1d</th><th>reject 15m</th><th>active workers</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _earnings(service: ApiNode, puid: int, now: float) -> str:
    """What earn-stats says, in BTC; today's figure is the live estimate."""
    b = ledger.balance(service.store, puid, int(now), service.settings.fee_rate())
    figures = (
        ("today (estimate)", b.today),
        ("yesterday", b.yesterday),
        ("unpaid", b.unpaid),
        ("pending payout", b.pending),
        ("paid", b.total_paid),
    )
    cards = "".join(
        f'<div class="card">{label}<b>{btc_text(sat)} BTC</b></div>' for label, sat in figures
    )
    return f'<h2>puid {puid}: earnings</h2><div class="cards">{cards}</div>'


def _workers(service: ApiNode, puid: int, now: float) -> str:
    settings = service.settings
    rows = []
    for w in service.store.top_workers(puid, 100):
        status = worker_status(w["last_accept_time"], now, settings.active_s, settings.inactive_s)
        rows.append(
            f"<tr><td>{html.escape(w['worker_name'])}</td><td>{w['worker_id']}</td>"
            f"<td>{hashrate_text(_rate(w['accept_1m'], 60))}</td>"
            f"<td>{hashrate_text(_rate(w['accept_15m'], 900))}</td>"
            f"<td>{hashrate_text(_rate(w['accept_1d'], 86400))}</td><td>{_reject_pct(w)}</td>"
            f'<td class="{status}">{status}</td><td>{_ago(now, w["last_share_time"])}</td>'
            f"<td>{html.escape(w['last_share_ip'])}</td></tr>"
        )
    return (
        f"<h2>puid {puid}: busiest workers</h2><table><tr>"
        "<th>worker</th><th>worker_id</th><th>1m</th><th>15m</th><th>1d</th>"
        "<th>reject 15m</th><th>status</th><th>last share</th><th>IP</th></tr>"
        + "".join(rows)
        + "</table>"
    )
