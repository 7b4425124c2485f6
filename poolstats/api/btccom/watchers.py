"""BTC.COM's watcher (observer) links: ``/v1/account/watcher/list|create|delete`` for the
owner, ``others-list`` for whoever holds tokens.

A link's token reads one sub-account through every read endpoint, given as ``watcher_token``
instead of ``access_key`` (``api.auth.authorize_watcher``). It is shown once, in the answer
of ``create``: the store keeps its hash, and ``list`` shows ``watcher_key`` as the token's
first 8 characters and ``***``, enough to tell links apart and to delete the right one.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Response

from poolstats.api.auth import Denied, Throttled, watched_puid
from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import (
    NO_PERMISSION,
    PARAM_ERROR,
    TOO_MANY,
    ApiError,
    Call,
    endpoint,
    ok,
)
from poolstats.api.btccom.schemas import Status
from poolstats.domain.hashrate import scaled
from poolstats.domain.status import WorkerStatus
from poolstats.domain.watchers import shown_token, split_tokens
from poolstats.store.ports.watchers import TooManyWatchers, Watcher

router = APIRouter(tags=["BTC.COM: watchers"])

#: BTC.COM numbered its regions; poolstats serves one, and calls it 1 as BTC.COM's first.
REGION_ID = 1


# --- parameters -----------------------------------------------------------------------------


class WatcherCreateParams(msgspec.Struct):
    note: Annotated[str, msgspec.Meta(min_length=2, max_length=20, description="2-20 chars.")]


class WatcherDeleteParams(msgspec.Struct):
    watcher_id: Annotated[int, msgspec.Meta(ge=1, le=2**62, description="The link's id.")]


class OthersListParams(msgspec.Struct):
    watcher_token: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=6000, description="Watcher tokens, comma-separated (20)."
        ),
    ]


# --- answers --------------------------------------------------------------------------------


class WatcherItem(msgspec.Struct):
    """A link as BTC.COM's list showed it; ``watcher_key`` masked (see the module)."""

    id: int
    uid: int  # the account owning the sub-account
    puid: int
    watcher_key: str  # "r_AbC123***"
    note: str
    created_at: str  # "2016-12-08 03:06:01" (UTC)
    updated_at: str


class WatcherCreated(msgspec.Struct):
    """``status`` as BTC.COM answered, and the new link: its whole token, this once."""

    status: bool
    id: int
    puid: int
    watcher_key: str  # the token, to be given as watcher_token; never shown again
    note: str
    created_at: str


class WatchedItem(msgspec.Struct):
    """What a token shows of its sub-account in ``others-list``; figures as strings, as
    BTC.COM sent them; the hashrate is the 15-minute one."""

    token: str
    puid: int
    name: str
    region_id: int
    hashrate_value: str
    hashrate_unit: str
    miners: str
    miners_active: str


# --- endpoints ------------------------------------------------------------------------------


@endpoint(router, "GET", "/v1/account/watcher/list", summary="The sub-account's watcher links",
          answer=list[WatcherItem])  # fmt: skip
def watcher_list(ctx: Call) -> Response:
    puid = ctx.caller(watchers=False).puid
    return ok([_item(w) for w in ctx.store.watchers(puid)])


@endpoint(router, "POST", "/v1/account/watcher/create", summary="Share a watcher link",
          answer=WatcherCreated, params=WatcherCreateParams)  # fmt: skip
def watcher_create(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    note = ctx.args(WatcherCreateParams).note
    try:
        made = ctx.store.create_watcher(puid, note, ctx.now)
    except (ValueError, TooManyWatchers) as exc:
        raise ApiError(PARAM_ERROR, str(exc)) from None
    except LookupError:  # the key's grant named it a moment ago; only a race gets here
        raise ApiError(NO_PERMISSION, "puid: no such sub-account") from None
    w = made.watcher
    return ok(
        WatcherCreated(
            status=True,
            id=w.id,
            puid=w.puid,
            watcher_key=made.token,
            note=w.note,
            created_at=render.utc_datetime(w.created_at),
        )
    )


@endpoint(router, "POST", "/v1/account/watcher/delete", summary="Delete a watcher link",
          answer=Status, params=WatcherDeleteParams)  # fmt: skip
def watcher_delete(ctx: Call) -> Response:
    """The link stops at once: watcher tokens are looked up on every call."""
    puid = ctx.caller(write=True).puid
    if not ctx.store.delete_watcher(puid, ctx.args(WatcherDeleteParams).watcher_id):
        raise ApiError(NO_PERMISSION, "watcher_id: not a watcher link of this sub-account")
    return ok(Status(status=True))


@endpoint(router, "GET", "/v1/account/watcher/others-list",
          summary="What watcher tokens show (no access key)", answer=list[WatchedItem],
          params=OthersListParams, auth=False)  # fmt: skip
def others_list(ctx: Call) -> Response:
    """Each token is one try of a key: an unknown one counts against the client's address
    as a wrong access key does, and is left out of the answer (BTC.COM answered ``[]``)."""
    try:
        tokens = split_tokens(ctx.args(OthersListParams).watcher_token)
    except ValueError as exc:
        raise ApiError(PARAM_ERROR, str(exc)) from None
    items = []
    for token in tokens:
        try:
            puid = watched_puid(ctx.grants, token, ctx.host)
        except Throttled as exc:
            retry = {"Retry-After": str(exc.retry_after_s)}
            raise ApiError(TOO_MANY, str(exc), status=429, headers=retry) from None
        except Denied:
            continue
        items.append(_watched(ctx, token, puid))
    return ok(items)


def _item(w: Watcher) -> WatcherItem:
    return WatcherItem(
        id=w.id,
        uid=w.account_id,
        puid=w.puid,
        watcher_key=shown_token(w.prefix),
        note=w.note,
        created_at=render.utc_datetime(w.created_at),
        updated_at=render.utc_datetime(w.updated_at),
    )


def _watched(ctx: Call, token: str, puid: int) -> WatchedItem:
    profile = ctx.store.subaccount_profile(puid)
    stats = ctx.store.subaccount_stats(puid)
    counts = ctx.store.worker_counts(puid, ctx.now, *ctx.thresholds)
    unit, (value,) = scaled([render.rate_hs(stats, "15m") if stats else 0.0])
    return WatchedItem(
        token=token,
        puid=puid,
        name=str(profile["name"]) if profile else "",
        region_id=REGION_ID,
        hashrate_value=value,
        hashrate_unit=unit,
        miners=str(sum(counts.values())),
        miners_active=str(counts[WorkerStatus.ACTIVE]),
    )
