"""BTC.COM's worker API: stats, list, detail, share history and moving workers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from poolstats.api import geoip
from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import (
    NO_PERMISSION,
    PARAM_ERROR,
    ApiError,
    Call,
    endpoint,
    int_path,
    ok,
)
from poolstats.api.btccom.schemas import (
    HistoryParams,
    ShareHistory,
    Status,
    WorkerDetail,
    WorkerFullStats,
    WorkerList,
    WorkerListParams,
    WorkerStats,
    WorkerUpdateParams,
)
from poolstats.domain.history import btccom_span, btccom_tickers, bucket_sums
from poolstats.domain.status import WorkerStatus
from poolstats.domain.worker_query import WorkerQuery
from poolstats.engine.engine import EngineConfig
from poolstats.engine.snapshot import Level

router = APIRouter(tags=["BTC.COM: workers"])

# API sort keys -> the store's (whitelisted there too).
ORDER_COLUMNS = {
    "worker_id": "worker_id",
    "worker_name": "worker_name",
    "shares_1m": "accept_1m",
    "shares_5m": "accept_5m",
    "shares_15m": "accept_15m",
    "shares_1h": "accept_1h",
    "shares_1d": "accept_1d",
    "accept_count": "accept_count",
    "reject_percent": "reject_fraction_15m",
    "last_share_time": "last_share_time",
    "status": "last_accept_time",
    "group": "group_id",
    "last_share_ip": "last_share_ip",
}
STATUSES = {
    "active": WorkerStatus.ACTIVE,
    "inactive": WorkerStatus.INACTIVE,
    "dead": WorkerStatus.DEAD,
    "all": None,
}
DIMENSION_S = {"5m": 300, "1h": 3600, "1d": 86400}
# BTC.COM had hourly and daily points; the 5-minute ones are poolstats' own, kept for
# sub-accounts and the pool (not per worker: 12 times the rows of the largest table).
_KEPT = EngineConfig()


def history_period(level: Level, dimension: str) -> int:
    """The bucket length of ``dimension``, refused (err_no 1) where ``level`` keeps none."""
    period_s = DIMENSION_S[dimension]
    if period_s not in _KEPT.periods(level):
        kept = ", ".join(d for d, s in DIMENSION_S.items() if s in _KEPT.periods(level))
        raise ApiError(PARAM_ERROR, f"dimension: this history is kept for {kept} only")
    return period_s


MAX_UPDATE_IDS = 1000


@endpoint(
    router,
    "GET",
    "/v1/worker/stats",
    summary="Sub-account hashrate and worker counts",
    answer=WorkerStats,
)
def worker_stats(ctx: Call) -> Response:
    puid = ctx.caller().puid
    counts = ctx.store.worker_counts(puid, ctx.now, *ctx.thresholds)
    return ok(render.worker_stats(ctx.store.subaccount_stats(puid), counts))


@endpoint(
    router,
    "GET",
    "/v1/worker/full-stats",
    summary="Sub-account hashrate with its 1-hour and 1-day figures, and worker counts",
    answer=WorkerFullStats,
)
def worker_full_stats(ctx: Call) -> Response:
    puid = ctx.caller().puid
    counts = ctx.store.worker_counts(puid, ctx.now, *ctx.thresholds)
    return ok(render.worker_full_stats(ctx.store.subaccount_stats(puid), counts))


@endpoint(
    router,
    "GET",
    "/v1/worker/share-history",
    summary="Sub-account hashrate history",
    answer=ShareHistory,
    params=HistoryParams,
)
def subaccount_history(ctx: Call) -> Response:
    puid = ctx.caller().puid
    return ok(_history(ctx, Level.SUBACCOUNT, puid, 0))


@endpoint(
    router,
    "GET",
    "/v1/worker",
    summary="Workers of the sub-account, a page",
    answer=WorkerList,
    params=WorkerListParams,
)
def list_workers(ctx: Call) -> Response:
    """``group`` left out, empty or 0 lists every group's workers: BTC.COM's document makes
    the parameter optional with all groups the default, and clients send 0 for "all" (0
    means "delete" only as ``/v1/worker/update``'s ``group_id``). Deleted workers are
    never listed."""
    puid = ctx.caller().puid
    if ctx.params.get("group") == "":
        del ctx.params["group"]
    p = ctx.args(WorkerListParams)
    group = None if p.group == 0 else p.group
    if group not in (None, render.DEFAULT_GID) and ctx.store.group(puid, group) is None:
        raise ApiError(NO_PERMISSION, "group: not a group of this sub-account")
    query = WorkerQuery(
        now=ctx.now,
        status=STATUSES[p.status],
        group_id=group,
        name_contains=p.filter,
        order_by=ORDER_COLUMNS[p.order_by],
        ascending=bool(p.asc),
        offset=(p.page - 1) * p.page_size,
        limit=p.page_size,
        active_s=ctx.thresholds[0],
        inactive_s=ctx.thresholds[1],
    )
    page = ctx.store.worker_page(puid, query)
    grouped = any(row["group_id"] != render.DEFAULT_GID for row in page.rows)
    groups = {g["gid"]: g["name"] for g in ctx.store.groups(puid)} if grouped else {}
    items = [render.worker_item(row, ctx.now, groups, ctx.thresholds) for row in page.rows]
    return ok(
        WorkerList(
            page=p.page,
            page_size=p.page_size,
            page_count=render.page_count(page.total_count, p.page_size),
            total_count=page.total_count,
            data=items,
        )
    )


@endpoint(
    router,
    "POST",
    "/v1/worker/update",
    summary="Move workers to a group (-1: DEFAULT, 0: delete)",
    answer=Status,
    params=WorkerUpdateParams,
)
def update_workers(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    p = ctx.args(WorkerUpdateParams)
    ids = _worker_ids(p.worker_id)
    if not ctx.store.move_workers(puid, ids, p.group_id, ctx.now):
        raise ApiError(
            NO_PERMISSION, "worker_id or group_id: not a worker or group of this sub-account"
        )
    return ok(Status(status=True))


@endpoint(router, "GET", "/v1/worker/{worker_id}", summary="One worker", answer=WorkerDetail)
def worker_detail(ctx: Call, worker_id: str) -> Response:
    puid = ctx.caller().puid
    row = _own_worker(ctx, puid, int_path("worker_id", worker_id))
    location = geoip.country(row["last_share_ip"], ctx.lang)
    return ok(render.worker_detail(row, ctx.now, location, ctx.thresholds))


@endpoint(
    router,
    "GET",
    "/v1/worker/{worker_id}/share-history",
    summary="One worker's hashrate history",
    answer=ShareHistory,
    params=HistoryParams,
)
def worker_history(ctx: Call, worker_id: str) -> Response:
    puid = ctx.caller().puid
    row = _own_worker(ctx, puid, int_path("worker_id", worker_id))
    return ok(_history(ctx, Level.WORKER, puid, int(row["worker_id"])))


def _own_worker(ctx: Call, puid: int, worker_id: int) -> dict[str, Any]:
    row = ctx.store.worker(puid, worker_id)
    if row is None or row["group_id"] == 0:  # deleted workers are gone until they mine again
        raise ApiError(NO_PERMISSION, "worker_id: not a worker of this sub-account")
    return row


def _history(ctx: Call, level: Level, puid: int, worker_id: int) -> ShareHistory:
    p = ctx.args(HistoryParams)
    period_s = history_period(level, p.dimension)
    span = btccom_span(p.start_ts, p.count, period_s, ctx.now)
    rows = ctx.store.history(level, period_s, puid, worker_id, span.first, span.stop)
    sums = bucket_sums(rows)
    unit, tickers = btccom_tickers(sums, span, ctx.now, p.real_point)
    return ShareHistory(shares_unit=unit, tickers=tickers)


def _worker_ids(text: str) -> list[int]:
    parts = text.split(",")
    if len(parts) > MAX_UPDATE_IDS:
        raise ApiError(PARAM_ERROR, f"worker_id: at most {MAX_UPDATE_IDS} ids at a time")
    return [int_path("worker_id", part.strip()) for part in parts]
