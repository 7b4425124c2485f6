"""BTC.COM's account API: the sub-account's profile, earnings and realtime hashrate."""

from __future__ import annotations

from fastapi import APIRouter, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import NO_PERMISSION, ApiError, Call, endpoint, ok
from poolstats.api.btccom.schemas import (
    AccountInfo,
    EarnHistory,
    EarnStats,
    PageParams,
    RealtimeHashrate,
)

router = APIRouter(tags=["BTC.COM: account"])


@endpoint(router, "GET", "/v1/account/info", summary="Sub-account profile", answer=AccountInfo)
def account_info(ctx: Call) -> Response:
    puid = ctx.caller().puid
    profile = ctx.store.subaccount_profile(puid)
    if profile is None:  # the key's grant named it a moment ago; only a race gets here
        raise ApiError(NO_PERMISSION, "puid: no such sub-account")
    return ok(render.account_info(profile))


@endpoint(router, "GET", "/v1/account/earn-stats", summary="Earnings summary", answer=EarnStats)
def earn_stats(ctx: Call) -> Response:
    ctx.caller()
    return ok(render.NO_EARNINGS)


@endpoint(
    router,
    "GET",
    "/v1/account/earn-history",
    summary="Daily earnings, a page",
    answer=EarnHistory,
    params=PageParams,
)
def earn_history(ctx: Call) -> Response:
    ctx.caller()
    p = ctx.args(PageParams)
    return ok(render.earn_history(p.page, p.page_size))


@endpoint(
    router,
    "GET",
    "/v1/realtime/hashrate",
    summary="15-minute and 1-day hashrate",
    answer=RealtimeHashrate,
)
def realtime_hashrate(ctx: Call) -> Response:
    puid = ctx.caller().puid
    return ok(render.realtime_hashrate(ctx.store.subaccount_stats(puid)))
