"""BTC.COM's sub-account management: ``/v1/account/sub-account/list``, ``create``,
``morelist`` and ``hashrate-miners``.

They are the account's business: a watcher token, which opens one sub-account, gets 20002
from the lists (``hashrate-miners`` of its own puid excepted). poolstats serves one region
and one coin, so the region and coin fields say so: ``region_id`` 1, the region's name the
sub-account's ``region`` profile text, ``default_url`` the address the client called.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Request, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import (
    NO_PERMISSION,
    PARAM_ERROR,
    ApiError,
    Call,
    call,
    endpoint,
    ok,
)
from poolstats.api.btccom.watchers import REGION_ID
from poolstats.api.params import ParamError, parse_int
from poolstats.api.threads import read
from poolstats.domain.status import WorkerStatus
from poolstats.domain.subaccounts import COIN_TYPES, validate_api_subaccount_name
from poolstats.store.ports.accounts import UserExists

router = APIRouter(tags=["BTC.COM: sub-accounts"])

COIN = "btc"


# --- parameters -----------------------------------------------------------------------------

Puids = Annotated[
    str, msgspec.Meta(max_length=4000, description="Sub-account ids, comma-separated.")
]


class SubaccountListParams(msgspec.Struct):
    puids: Puids = ""


class SubaccountCreateParams(msgspec.Struct):
    worker_name: Annotated[str, msgspec.Meta(min_length=3, max_length=20)]
    bitcoin_address: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    region_node: Annotated[str, msgspec.Meta(max_length=64)] = ""
    coin_type: Annotated[str, msgspec.Meta(max_length=16)] = COIN


# --- answers --------------------------------------------------------------------------------


class SubaccountItem(msgspec.Struct):
    """One sub-account as BTC.COM's ``sub-account/list`` showed it; times "Y-m-d H:M:S"
    (UTC), ``is_current`` 1 for the sub-account this call named (its ``puid``, or the
    account's first)."""

    puid: int
    region_id: int
    region_name: str
    name: str
    default_url: str
    is_current: int
    created_at: str
    updated_at: str
    change_updated_at: str


class SubaccountCreated(msgspec.Struct):
    status: bool
    puid: int
    region_id: int
    region_base_url: str


class MoreListItem(msgspec.Struct):
    """``morelist``'s fuller item: ``shares`` counts the sub-account's watcher links."""

    puid: int
    region_id: int
    region_text: str
    name: str
    default_url: str
    region_name: str
    created_at: str
    updated_at: str
    shares: int
    is_hidden: int
    is_default: int
    is_generate: int
    change_updated_at: str
    current_mode: str
    current_mode_text: str
    is_current: int
    current_coin_type: str
    open_coin_type: list[str]


class MoreList(msgspec.Struct):
    """No sub-account is hidden nor a default in poolstats: all are ``display``ed."""

    have_default: bool
    display: list[MoreListItem]
    hidden: list[MoreListItem]


class HashrateMiners(msgspec.Struct):
    """One sub-account's workers and 1-day hashrate (``shares_1d`` in ``shares_1d_unit``)."""

    puid: str
    workers: int
    workers_active: int
    shares_1d: str
    shares_1d_unit: str


# --- endpoints ------------------------------------------------------------------------------


def _listing(ctx: Call, base_url: str) -> Response:
    caller = ctx.caller(watchers=False)
    wanted = _puids(ctx.args(SubaccountListParams).puids)
    rows = [r for r in _rows(ctx, caller.account_id) if not wanted or r["puid"] in wanted]
    return ok([_item(r, caller.puid, base_url) for r in rows])


for _method in ("GET", "POST"):  # BTC.COM documented POST for this read; clients use both

    @endpoint(router, _method, "/v1/account/sub-account/list", summary="The account's "
              "sub-accounts", answer=list[SubaccountItem], params=SubaccountListParams)  # fmt: skip
    async def subaccount_list(request: Request) -> Response:
        ctx = await call(request)
        answer: Response = await read(request, functools.partial(_listing, ctx, _base(request)))
        return answer


def _create(ctx: Call, access_key: str, base_url: str) -> Response:
    caller = ctx.caller(write=True)
    assert caller.account_id is not None  # a key's caller; watchers cannot write
    p = ctx.args(SubaccountCreateParams)
    if p.coin_type.strip().lower() not in COIN_TYPES:
        raise ApiError(PARAM_ERROR, f"coin_type: poolstats mines {COIN}, got {p.coin_type!r}")
    try:
        name = validate_api_subaccount_name(p.worker_name)
        profile = {"address": p.bitcoin_address.strip(), "region": p.region_node.strip()}
        puid = ctx.store.add_subaccount(caller.account_id, name, profile, ctx.now)
    except UserExists:
        raise ApiError(PARAM_ERROR, f"worker_name: {p.worker_name!r} is taken") from None
    except ValueError as exc:  # TooManySubaccounts too; the field leads the message
        message = str(exc)
        if message.startswith("address"):
            message = "bitcoin_address" + message.removeprefix("address")
        raise ApiError(PARAM_ERROR, message) from None
    ctx.grants.forget(access_key)  # so that the key's next call opens the new puid
    return ok(SubaccountCreated(status=True, puid=puid, region_id=REGION_ID,
                                region_base_url=base_url))  # fmt: skip


@endpoint(router, "POST", "/v1/account/sub-account/create", summary="Create a sub-account",
          answer=SubaccountCreated, params=SubaccountCreateParams)  # fmt: skip
async def subaccount_create(request: Request) -> Response:
    """With the payout address in one step; the name is free among all accounts' names."""
    ctx = await call(request)
    work = functools.partial(_create, ctx, ctx.params.get("access_key", ""), _base(request))
    answer: Response = await read(request, work)
    return answer


def _morelist(ctx: Call, base_url: str) -> Response:
    caller = ctx.caller(watchers=False)
    rows = _rows(ctx, caller.account_id)
    shares = ctx.store.watcher_counts(r["puid"] for r in rows)
    display = [_more(r, caller.puid, base_url, shares[r["puid"]]) for r in rows]
    return ok(MoreList(have_default=False, display=display, hidden=[]))


@endpoint(router, "GET", "/v1/account/sub-account/morelist",
          summary="The account's sub-accounts, with watcher counts", answer=MoreList)  # fmt: skip
async def subaccount_morelist(request: Request) -> Response:
    ctx = await call(request)
    answer: Response = await read(request, functools.partial(_morelist, ctx, _base(request)))
    return answer


@endpoint(router, "GET", "/v1/account/sub-account/hashrate-miners",
          summary="Workers and 1-day hashrate of sub-accounts",
          answer=dict[str, HashrateMiners], params=SubaccountListParams)  # fmt: skip
def hashrate_miners(ctx: Call) -> Response:
    """``puids`` (default: the call's ``puid``) must all be the caller's: a watcher token
    reads its own puid only."""
    caller = ctx.caller()
    wanted = _puids(ctx.args(SubaccountListParams).puids) or [caller.puid]
    foreign = [p for p in wanted if p not in caller.puids]
    if foreign:
        raise ApiError(NO_PERMISSION, f"puids: {foreign[0]} is not a sub-account of the caller")
    out = {}
    for puid in wanted:
        counts = ctx.store.worker_counts(puid, ctx.now, *ctx.thresholds)
        day = render.figures(ctx.store.subaccount_stats(puid))
        out[str(puid)] = HashrateMiners(
            puid=str(puid),
            workers=sum(counts.values()),
            workers_active=counts[WorkerStatus.ACTIVE],
            shares_1d=day["shares_1d"],
            shares_1d_unit=day["shares_1d_unit"],
        )
    return ok(out)


# --- helpers --------------------------------------------------------------------------------


def _base(request: Request) -> str:
    """The address the client called poolstats at: the one region's base URL."""
    return str(request.base_url).rstrip("/")


def _puids(text: str) -> list[int]:
    """``puids``' comma-separated ids, each once, in order; err_no 1 naming ``puids``."""
    try:
        found = [parse_int("puids", p.strip()) for p in text.split(",") if p.strip()]
    except ParamError as exc:
        raise ApiError(PARAM_ERROR, str(exc)) from None
    return list(dict.fromkeys(found))


def _rows(ctx: Call, account_id: int | None) -> list[dict[str, Any]]:
    assert account_id is not None  # refused to watchers before
    return ctx.store.account_subaccounts(account_id)


def _times(row: Mapping[str, Any]) -> tuple[str, str]:
    """(created_at, updated_at) as BTC.COM wrote them; a profile never changed was last
    updated when it was made."""
    created = int(row["created_at"])
    return render.utc_datetime(created), render.utc_datetime(int(row["updated_at"]) or created)


def _item(row: Mapping[str, Any], current: int, base_url: str) -> SubaccountItem:
    created, updated = _times(row)
    return SubaccountItem(
        puid=int(row["puid"]),
        region_id=REGION_ID,
        region_name=row["region"],
        name=row["name"],
        default_url=base_url,
        is_current=int(row["puid"] == current),
        created_at=created,
        updated_at=updated,
        change_updated_at=created,  # the coin and mode never change: the day it was made
    )


def _more(row: Mapping[str, Any], current: int, base_url: str, shares: int) -> MoreListItem:
    created, updated = _times(row)
    return MoreListItem(
        puid=int(row["puid"]),
        region_id=REGION_ID,
        region_text=row["region"],
        name=row["name"],
        default_url=base_url,
        region_name=row["region"],
        created_at=created,
        updated_at=updated,
        shares=shares,
        is_hidden=0,
        is_default=0,
        is_generate=0,
        change_updated_at=created,
        current_mode=COIN,
        current_mode_text=COIN,
        is_current=int(row["puid"] == current),
        current_coin_type=COIN,
        open_coin_type=[COIN],
    )
