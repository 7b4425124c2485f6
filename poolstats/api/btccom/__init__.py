"""The BTC.COM dialect: every endpoint of its pool and worker API documents (docs/api.md)."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter

from poolstats.api.btccom import (
    account,
    alerts,
    blocks,
    groups,
    income,
    pool,
    schemas,
    subaccounts,
    watchers,
    workers,
)

router = APIRouter()
# Order matters: /v1/worker/stats, /share-history and /groups before /v1/worker/{worker_id}.
router.include_router(groups.router)
router.include_router(workers.router)
router.include_router(account.router)
router.include_router(pool.router)
router.include_router(alerts.router)
router.include_router(blocks.router)
router.include_router(income.router)
router.include_router(subaccounts.router)
router.include_router(watchers.router)

ANSWERS: tuple[type[Any], ...] = (
    schemas.GroupList,
    schemas.GroupItem,
    schemas.WorkerStats,
    schemas.WorkerFullStats,
    schemas.GroupBrief,
    schemas.ShareHistory,
    schemas.WorkerList,
    schemas.WorkerDetail,
    schemas.Status,
    schemas.PoolStats,
    schemas.MergedPoolStats,
    schemas.AccountInfo,
    schemas.EarnStats,
    schemas.EarnHistory,
    schemas.RealtimeHashrate,
    schemas.AlertLogItem,
    schemas.AlertContactItem,
    blocks.BlockList,
    blocks.FoundList,
    pool.PoolStatus,
    pool.PoolShareHistory,
    pool.StratumNode,
    pool.UrlConfig,
    income.CoinsIncome,
    subaccounts.SubaccountItem,
    subaccounts.SubaccountCreated,
    subaccounts.MoreList,
    subaccounts.HashrateMiners,
    watchers.WatcherItem,
    watchers.WatcherCreated,
    watchers.WatchedItem,
)


def openapi_components() -> dict[str, Any]:
    """JSON schemas of the answers, for the OpenAPI document's ``components/schemas``."""
    _, components = msgspec.json.schema_components(
        ANSWERS, ref_template="#/components/schemas/{name}"
    )
    return components
