"""BTC.COM's account API: the sub-account's profile, earnings and realtime hashrate."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.alerts import alert_settings
from poolstats.api.btccom.envelope import (
    NO_PERMISSION,
    PARAM_ERROR,
    ApiError,
    Call,
    endpoint,
    ok,
)
from poolstats.api.btccom.schemas import (
    AccountInfo,
    EarnHistory,
    EarnHistoryParams,
    EarnStats,
    PayLimitParams,
    RealtimeHashrate,
    Status,
)
from poolstats.domain.earnings import COIN, MAX_MONEY_SAT, parse_btc
from poolstats.store import ledger

#: BTC.COM's smallest payout threshold; below it the transaction fee eats the payout.
PAY_LIMIT_MIN_SAT = COIN // 1000  # 0.001 BTC

router = APIRouter(tags=["BTC.COM: account"])


class Access(msgspec.Struct):
    """What the caller's key or watcher token may do: poolstats' own, so that a client (the
    dashboard) shows write controls only to keys that may use them."""

    puid: int  # the sub-account this call acted on
    puids: list[int]  # every sub-account the caller may read
    read_only: bool  # no write of any kind (a read-only key, or a watcher token)
    watcher: bool  # a watcher link's token: one sub-account, reads only


@endpoint(router, "GET", "/v1/account/access", summary="What this key may do", answer=Access)
def account_access(ctx: Call) -> Response:
    caller = ctx.caller()
    return ok(Access(caller.puid, list(caller.puids), caller.read_only, caller.watcher))


@endpoint(router, "GET", "/v1/account/info", summary="Sub-account profile", answer=AccountInfo)
def account_info(ctx: Call) -> Response:
    puid = ctx.caller().puid
    profile = ctx.store.subaccount_profile(puid)
    if profile is None:  # the key's grant named it a moment ago; only a race gets here
        raise ApiError(NO_PERMISSION, "puid: no such sub-account")
    return ok(render.account_info(profile, alert_settings(ctx.store, puid)))


@endpoint(router, "GET", "/v1/account/earn-stats", summary="Earnings summary", answer=EarnStats)
def earn_stats(ctx: Call) -> Response:
    """Settled figures, and for today (and yesterday until it is settled) an estimate from
    the work booked so far, valued as settlement would value it now."""
    puid = ctx.caller().puid
    fee = ctx.service.settings.fee_rate()
    return ok(render.earn_stats(ledger.balance(ctx.service.store, puid, ctx.now, fee)))


@endpoint(
    router,
    "GET",
    "/v1/account/earn-history",
    summary="Daily earnings, a page",
    answer=EarnHistory,
    params=EarnHistoryParams,
)
def earn_history(ctx: Call) -> Response:
    puid = ctx.caller().puid
    p = ctx.args(EarnHistoryParams)
    total, days = ledger.earnings_page(
        ctx.service.store, puid, (p.page - 1) * p.page_size, p.page_size
    )
    return ok(render.earn_history(p.page, p.page_size, total, days))


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


@endpoint(
    router,
    "POST",
    "/v1/account/pay/limit",
    summary="Set the minimum payout",
    answer=Status,
    params=PayLimitParams,
)
def pay_limit(ctx: Call) -> Response:
    """BTC.COM's payout threshold, given in BTC as it was there, stored in satoshis."""
    puid = ctx.caller(write=True).puid
    amount = ctx.args(PayLimitParams).amount
    try:
        sat = parse_btc(amount)
    except ValueError as exc:
        raise ApiError(PARAM_ERROR, f"amount: {exc}") from None
    if not PAY_LIMIT_MIN_SAT <= sat <= MAX_MONEY_SAT:
        raise ApiError(PARAM_ERROR, f"amount: from 0.001 to 21000000 BTC, got {amount!r}")
    if not ctx.store.update_subaccount_profile(puid, {"min_payout_sat": sat}, ctx.now):
        raise ApiError(NO_PERMISSION, "puid: no such sub-account")  # only a race gets here
    return ok(Status(status=True))
