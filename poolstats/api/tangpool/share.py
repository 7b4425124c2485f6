"""Tangpool's hashrate document (算力数据): groups, the realtime summary, the spread of the
workers' hashrates, the sub-account's and each worker's history, the worker list and detail.

Tangpool's words mapped onto poolstats': a worker is "online" while ACTIVE (an accepted share
within ``active_s``) and "offline" otherwise; the DEFAULT group is Tangpool's group 0
(poolstats' -1; its deleted workers, group 0 there, are never shown); ``agent_id`` is always
0 (pool users, as the document says: poolstats has no agents). Hashrates are BTC.COM's four
significant digits in a unit fitted to the largest figure, except where Tangpool printed three
decimals (``avg``, ``sharesAvg`` and the history points).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter

from poolstats.api.btccom import render
from poolstats.api.btccom.schemas import Count, Page, StartTs
from poolstats.api.tangpool.common import (
    Ask,
    TangpoolError,
    int_path,
    invalid,
    not_found,
    page_fields,
    route,
)
from poolstats.api.tangpool.common import Page as PageAnswer
from poolstats.domain.hashrate import percent_text, pick_unit, scaled
from poolstats.domain.history import tangpool_share, tangpool_span
from poolstats.domain.status import WorkerStatus, worker_status
from poolstats.domain.worker_query import WorkerQuery
from poolstats.engine.engine import EngineConfig
from poolstats.engine.snapshot import Level

router = APIRouter(tags=["Tangpool: hashrate"])
PATH = "/public/worker/share"  # the spec's one Tangpool document
DIMENSION_S = {"5m": 300, "15m": 900, "1h": 3600}
WORKERS_PER_PAGE = 50  # Tangpool's page of workers
DISTRIBUTION_BINS = 54  # Tangpool's example: 54 intervals, the largest worker in the 51st
DISTRIBUTION_STEPS = 50  # ... of width (largest / 50)
_KEPT = EngineConfig()
# Tangpool's sort keys -> the store's. Every worker of a list has the same user_id and
# agent_id, so by those the order is the tie-break's (worker_id). poolstats keeps neither a
# sortable reject count nor the time a worker last came online: total_reject sorts by the
# 15-minute reject rate and last_showup_time by the last share, the nearest it has.
ORDER_COLUMNS = {
    "mining_worker_id": "worker_id",
    "user_id": "worker_id",
    "agent_id": "worker_id",
    "worker_name": "worker_name",
    "shares_1m": "accept_1m",
    "shares_5m": "accept_5m",
    "shares_15m": "accept_15m",
    "total_accept": "accept_count",
    "total_reject": "reject_fraction_15m",
    "last_share_time": "last_share_time",
    "last_showup_time": "last_share_time",
}
AgentId = Annotated[int, msgspec.Meta(ge=0, le=0, description="Always 0: pool users.")]


# --- history ---------------------------------------------------------------------------------


class ShareParams(msgspec.Struct):
    dimension: Literal["5m", "15m", "1h"]
    start_ts: StartTs
    count: Count


class SharePoint(msgspec.Struct):
    accept: str
    reject: str


class ShareAnswer(msgspec.Struct):
    unit: str
    share: dict[str, SharePoint | None]


def series(ask: Ask, level: Level, puid: int = 0, worker_id: int = 0) -> ShareAnswer:
    """``count`` closed intervals of ``dimension`` from the one holding ``start_ts``, keyed by
    their ends. An interval the store keeps no bucket of is added up from the finer buckets
    it does keep (the pool's 15 minutes from its 5-minute buckets); a level that keeps none
    fine enough (a worker's 5 and 15 minutes: workers are kept hourly) is refused."""
    p = ask.args(ShareParams)
    period_s = DIMENSION_S[p.dimension]
    stored = [s for s in _KEPT.periods(level) if s <= period_s and period_s % s == 0]
    if not stored:
        kept = ", ".join(k for k, s in DIMENSION_S.items() if s in _KEPT.periods(level))
        raise invalid(f"dimension: this history is kept for {kept} only")
    span = tangpool_span(p.start_ts, p.count, period_s, ask.now)
    rows = ask.store.history(level, max(stored), puid, worker_id, span.first, span.stop)
    sums: dict[int, tuple[float, float]] = {}
    for r in rows:
        start = int(r["start"]) // period_s * period_s
        accepted, rejected = sums.get(start, (0.0, 0.0))
        sums[start] = (accepted + r["accept"], rejected + r["reject"] + r["stale"])
    unit, share = tangpool_share(sums, span)
    return ShareAnswer(
        unit=unit,
        share={ts: None if v is None else SharePoint(**v) for ts, v in share.items()},
    )


@route(router, "/worker/share", summary="The sub-account's hashrate history, by interval end",
       answer=ShareAnswer, params=ShareParams)  # fmt: skip
def share_history(ask: Ask) -> ShareAnswer:
    return series(ask, Level.SUBACCOUNT, ask.puid())


# --- realtime --------------------------------------------------------------------------------


class TangpoolSummary(msgspec.Struct, rename={"m1": "1m", "m5": "5m", "m15": "15m"}):
    unit: str
    m1: str
    m5: str
    m15: str
    avg: str  # the 15-minute hashrate per online worker, 3 decimals
    count: str  # online workers


@route(router, "/worker/share/summary", summary="The sub-account's realtime hashrate",
       answer=TangpoolSummary)  # fmt: skip
def summary(ask: Ask) -> TangpoolSummary:
    puid = ask.puid()
    row = ask.store.subaccount_stats(puid)
    online = ask.store.worker_counts(puid, ask.now, *ask.thresholds)[WorkerStatus.ACTIVE]
    rates = [render.rate_hs(row, w) if row else 0.0 for w in render.SHORT]
    unit, (m1, m5, m15) = scaled(rates)
    avg = rates[2] / pick_unit(rates)[1] / online if online else 0.0
    return TangpoolSummary(
        unit=unit, m1=_zero(m1), m5=_zero(m5), m15=_zero(m15), avg=f"{avg:.3f}", count=str(online)
    )


class DistributionParams(msgspec.Struct):
    dimension: Literal["1m", "5m", "15m"]


class TangpoolDistribution(msgspec.Struct):
    """In Tangpool's camelCase names."""

    sharesMax: float  # Tangpool's names
    sharesAvg: str
    sharesMin: float
    shareDistribution: list[str]  # each interval's lower bound, 2 decimals
    shareCount: list[int]  # online workers in each interval
    sharesUnit: str
    totalCount: int  # online workers


@route(router, "/worker/share/distribution", summary="How the online workers' hashrates spread",
       answer=TangpoolDistribution, params=DistributionParams)  # fmt: skip
def distribution(ask: Ask) -> TangpoolDistribution:
    """``DISTRIBUTION_BINS`` intervals of width largest / ``DISTRIBUTION_STEPS`` from 0, as
    in Tangpool's example; with no online worker, or none with any hashrate, the intervals
    are empty or the one "0.00"."""
    puid = ask.puid()
    window = ask.args(DistributionParams).dimension
    online = [
        row
        for row in ask.store.workers(puid)
        if row["group_id"] != 0
        and worker_status(row["last_accept_time"], ask.now, *ask.thresholds) is WorkerStatus.ACTIVE
    ]
    rates = [render.rate_hs(row, window) for row in online]
    unit, size = pick_unit(rates)
    values = [r / size for r in rates]
    largest = max(values, default=0.0)
    if largest > 0:
        step = largest / DISTRIBUTION_STEPS
        edges = [f"{i * step:.2f}" for i in range(DISTRIBUTION_BINS)]
        counts = [0] * DISTRIBUTION_BINS
        for v in values:
            counts[min(int(v / step), DISTRIBUTION_BINS - 1)] += 1
    else:
        edges, counts = (["0.00"], [len(values)]) if values else ([], [])
    return TangpoolDistribution(
        sharesMax=round(largest, 3),
        sharesAvg=f"{sum(values) / len(values) if values else 0.0:.3f}",
        sharesMin=round(min(values, default=0.0), 3),
        shareDistribution=edges,
        shareCount=counts,
        sharesUnit=unit,
        totalCount=len(values),
    )


# --- groups ----------------------------------------------------------------------------------


class TangpoolGroupShares(msgspec.Struct):
    shares_1m: str
    shares_5m: str
    shares_15m: str
    unit: str


class TangpoolGroup(msgspec.Struct):
    mining_group_id: str
    user_id: str
    agent_id: str
    name: str
    color_warning_enabled: bool
    online_count: str
    offline_count: str
    shares: TangpoolGroupShares


@route(router, "/agent/{agent_id}/group", summary="The sub-account's worker groups",
       answer=list[TangpoolGroup])  # fmt: skip
def groups(ask: Ask, agent_id: str) -> list[TangpoolGroup]:
    """DEFAULT (Tangpool's group 0) first, then the sub-account's groups in their order."""
    puid = ask.puid()
    _agent(int_path("agent_id", agent_id))
    stats = {int(s["group_id"]): s for s in ask.store.group_stats(puid, ask.now, *ask.thresholds)}
    named = [(render.DEFAULT_GID, render.DEFAULT_NAME)]
    named += [(int(g["gid"]), g["name"]) for g in ask.store.groups(puid)]
    return [_group(puid, gid, name, stats.get(gid)) for gid, name in named]


def _group(puid: int, gid: int, name: str, stats: Mapping[str, Any] | None) -> TangpoolGroup:
    unit, (m1, m5, m15) = scaled([render.rate_hs(stats, w) if stats else 0.0 for w in render.SHORT])
    online = int(stats["workers_active"]) if stats else 0
    total = int(stats["workers_total"]) if stats else 0
    return TangpoolGroup(
        mining_group_id=str(tangpool_gid(gid)),
        user_id=str(puid),
        agent_id="0",
        name=name,
        color_warning_enabled=False,
        online_count=str(online),
        offline_count=str(total - online),
        shares=TangpoolGroupShares(
            shares_1m=_zero(m1), shares_5m=_zero(m5), shares_15m=_zero(m15), unit=unit
        ),
    )


def tangpool_gid(gid: int) -> int:
    """DEFAULT is -1 in poolstats and 0 in Tangpool; real groups keep their numbers."""
    return 0 if gid == render.DEFAULT_GID else gid


def _agent(agent_id: int) -> None:
    if agent_id != 0:
        raise invalid("agent_id: must be 0 (pool users; poolstats has no agents)")


# --- workers ---------------------------------------------------------------------------------


class WorkerListParams(msgspec.Struct):
    status: Literal["online", "offline", "all"] = "all"
    group: Annotated[int, msgspec.Meta(ge=0, le=2**62)] | None = None
    page: Page = 1
    filter: Annotated[str, msgspec.Meta(max_length=128)] = ""
    order_by: Literal[
        "mining_worker_id", "user_id", "agent_id", "worker_name", "shares_1m", "shares_5m",
        "shares_15m", "total_accept", "total_reject", "last_share_time", "last_showup_time",
    ] = "last_share_time"  # fmt: skip
    asc: Literal[0, 1] = 0
    agent_id: AgentId = 0


class TangpoolWorker(msgspec.Struct):
    """One worker, the fields in Tangpool's order (the detail leaves out the group's)."""

    mining_worker_id: str
    user_id: str
    agent_id: str
    worker_name: str
    worker_name_ip: str
    min_diff: str
    shares_1m: str
    shares_5m: str
    shares_15m: str
    total_accept: str
    total_reject: str
    last_share_time: str
    last_showup_time: str
    last_ip: str
    is_cleaning: str
    unit: str
    reject_percent: str


class TangpoolWorkerItem(TangpoolWorker):
    group_id: str
    is_deleted: str
    group_name: str


class TangpoolWorkerList(PageAnswer):
    data: list[TangpoolWorkerItem]


@route(router, "/worker", summary="The sub-account's workers, 50 a page",
       answer=TangpoolWorkerList, params=WorkerListParams)  # fmt: skip
def list_workers(ask: Ask) -> TangpoolWorkerList:
    puid = ask.puid()
    p = ask.args(WorkerListParams)
    gid = None if p.group is None else (p.group or render.DEFAULT_GID)
    if gid not in (None, render.DEFAULT_GID) and ask.store.group(puid, gid) is None:
        raise invalid("group: not a group of this sub-account")
    active_s, inactive_s = ask.thresholds
    status = {"online": WorkerStatus.ACTIVE, "offline": WorkerStatus.DEAD, "all": None}[p.status]
    if status is WorkerStatus.DEAD:
        inactive_s = active_s  # DEAD with no INACTIVE between: everything not online
    query = WorkerQuery(
        now=ask.now,
        status=status,
        group_id=gid,
        name_contains=p.filter,
        order_by=ORDER_COLUMNS[p.order_by],
        ascending=bool(p.asc),
        offset=(p.page - 1) * WORKERS_PER_PAGE,
        limit=WORKERS_PER_PAGE,
        active_s=active_s,
        inactive_s=inactive_s,
    )
    found = ask.store.worker_page(puid, query)
    named = any(row["group_id"] != render.DEFAULT_GID for row in found.rows)
    names = {g["gid"]: g["name"] for g in ask.store.groups(puid)} if named else {}
    items = [
        TangpoolWorkerItem(
            **msgspec.structs.asdict(_worker(row)),
            group_id=str(tangpool_gid(int(row["group_id"]))),
            is_deleted="0",
            group_name=names.get(int(row["group_id"]), render.DEFAULT_NAME),
        )
        for row in found.rows
    ]
    return TangpoolWorkerList(
        **page_fields(p.page, WORKERS_PER_PAGE, found.total_count, len(items)), data=items
    )


@route(router, "/worker/{worker_id}", summary="One worker", answer=TangpoolWorker)
def worker_detail(ask: Ask, worker_id: str) -> TangpoolWorker:
    return _worker(_own_worker(ask, worker_id))


@route(router, "/worker/{worker_id}/share", summary="One worker's hashrate history (hourly)",
       answer=ShareAnswer, params=ShareParams)  # fmt: skip
def worker_history(ask: Ask, worker_id: str) -> ShareAnswer:
    row = _own_worker(ask, worker_id)
    return series(ask, Level.WORKER, int(row["puid"]), int(row["worker_id"]))


def _own_worker(ask: Ask, worker_id: str) -> dict[str, Any]:
    puid = ask.puid()
    wanted = int_path("worker_id", worker_id)
    row = ask.store.worker(puid, wanted)
    if row is None or row["group_id"] == 0:  # deleted workers are gone until they mine again
        raise not_found("worker_id: not a worker of this sub-account")
    return row


def _worker(row: Mapping[str, Any]) -> TangpoolWorker:
    """``min_diff`` is "0" and ``last_showup_time`` the time poolstats first stored the
    worker: it keeps neither a worker's difficulty nor when it last came online."""
    unit, (m1, m5, m15) = scaled([render.rate_hs(row, w) for w in render.SHORT])
    return TangpoolWorker(
        mining_worker_id=str(row["worker_id"]),
        user_id=str(row["puid"]),
        agent_id="0",
        worker_name=row["worker_name"],
        worker_name_ip="0",
        min_diff="0",
        shares_1m=_zero(m1),
        shares_5m=_zero(m5),
        shares_15m=_zero(m15),
        total_accept=str(row["accept_count"]),
        total_reject=str(row["reject_count"]),
        last_share_time=render.utc_datetime(int(row["last_share_time"])),
        last_showup_time=render.utc_datetime(int(row["created_at"])),
        last_ip=row["last_share_ip"],
        is_cleaning="0",
        unit=unit,
        reject_percent=percent_text(render.rejected_fraction(row, "15m")),
    )


def _zero(text: str) -> str:
    """Tangpool wrote no hashrate as "0.000" where BTC.COM wrote "0"."""
    return "0.000" if text == "0" else text


__all__ = ["PATH", "TangpoolError", "router", "series"]
