"""BTC.COM's worker groups: the list with per-group figures, and creating, renaming and
deleting groups. DEFAULT (gid -1) is every sub-account's, always first and never stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

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
    GroupCreateParams,
    GroupItem,
    GroupList,
    GroupRenameParams,
    PageParams,
    Status,
)
from poolstats.store.base import GroupExists

router = APIRouter(tags=["BTC.COM: groups"])
_NAME_TAKEN = "group_name: this sub-account has a group of that name"


@endpoint(
    router,
    "GET",
    "/v1/worker/groups",
    summary="Worker groups with their figures",
    answer=GroupList,
    params=PageParams,
)
def list_groups(ctx: Call) -> Response:
    puid = ctx.caller().puid
    p = ctx.args(PageParams)
    groups = [_default(ctx, puid), *ctx.store.groups(puid)]
    stats = _stats(ctx, puid)
    first = (p.page - 1) * p.page_size
    shown = groups[first : first + p.page_size]
    return ok(
        GroupList(
            page=p.page,
            page_size=p.page_size,
            page_count=render.page_count(len(groups), p.page_size),
            total_count=len(groups),
            items=[render.group_item(g, stats.get(g["gid"])) for g in shown],
        )
    )


@endpoint(
    router,
    "POST",
    "/v1/groups/create",
    summary="Create a worker group",
    answer=GroupItem,
    params=GroupCreateParams,
)
def create_group(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    name = _name(ctx.args(GroupCreateParams).group_name)
    try:
        group = ctx.store.create_group(puid, name, ctx.now)
    except GroupExists:
        raise ApiError(PARAM_ERROR, _NAME_TAKEN) from None
    return ok(render.group_item(group, None))


@endpoint(
    router,
    "POST",
    "/v1/groups/update/{gid}",
    summary="Rename a worker group",
    answer=Status,
    params=GroupRenameParams,
)
def rename_group(ctx: Call, gid: str) -> Response:
    puid = ctx.caller(write=True).puid
    number = _stored_gid(gid)
    if "group_name" not in ctx.params and "name" in ctx.params:  # either name is accepted
        ctx.params["group_name"] = ctx.params["name"]
    name = _name(ctx.args(GroupRenameParams).group_name)
    try:
        renamed = ctx.store.rename_group(puid, number, name, ctx.now)
    except GroupExists:
        raise ApiError(PARAM_ERROR, _NAME_TAKEN) from None
    if not renamed:
        raise ApiError(NO_PERMISSION, "gid: not a group of this sub-account")
    return ok(Status(status=True))


@endpoint(
    router,
    "POST",
    "/v1/groups/delete/{gid}",
    summary="Delete a worker group; its workers go back to DEFAULT",
    answer=Status,
)
def delete_group(ctx: Call, gid: str) -> Response:
    puid = ctx.caller(write=True).puid
    if not ctx.store.delete_group(puid, _stored_gid(gid), ctx.now):
        raise ApiError(NO_PERMISSION, "gid: not a group of this sub-account")
    return ok(Status(status=True))


# After the writes: GET /v1/groups/create must not be taken for a gid.
@endpoint(router, "GET", "/v1/groups/{gid}", summary="One worker group", answer=GroupItem)
def get_group(ctx: Call, gid: str) -> Response:
    puid = ctx.caller().puid
    number = int_path("gid", gid)
    group = _default(ctx, puid) if number == render.DEFAULT_GID else _own(ctx, puid, number)
    return ok(render.group_item(group, _stats(ctx, puid).get(number)))


def _default(ctx: Call, puid: int) -> dict[str, Any]:
    profile = ctx.store.subaccount_profile(puid)
    return render.default_group(int(profile["created_at"]) if profile else 0)


def _own(ctx: Call, puid: int, gid: int) -> dict[str, Any]:
    group = ctx.store.group(puid, gid)
    if group is None:
        raise ApiError(NO_PERMISSION, "gid: not a group of this sub-account")
    return group


def _stats(ctx: Call, puid: int) -> dict[int, dict[str, Any]]:
    return {int(r["group_id"]): r for r in ctx.store.group_stats(puid, ctx.now, *ctx.thresholds)}


def _stored_gid(gid: str) -> int:
    number = int_path("gid", gid)
    if number in (render.DEFAULT_GID, 0):
        raise ApiError(PARAM_ERROR, "gid: DEFAULT and the deleted workers are not groups to change")
    return number


def _name(name: str) -> str:
    if not name.isprintable() or name != name.strip():
        raise ApiError(
            PARAM_ERROR, "group_name: no control characters or surrounding spaces allowed"
        )
    if name.casefold() == render.DEFAULT_NAME.casefold():
        raise ApiError(PARAM_ERROR, f"group_name: {render.DEFAULT_NAME} is the default group's")
    return name
