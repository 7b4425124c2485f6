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
    GroupBrief,
    GroupCreateParams,
    GroupItem,
    GroupList,
    GroupRenameParams,
    PageParams,
    Status,
)
from poolstats.store.base import GroupExists

router = APIRouter(tags=["BTC.COM: groups"])
_NAME_TAKEN = "this sub-account has a group of that name"


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
    "GET",
    "/v1/groups/simple",
    summary="Every worker group's gid and name, DEFAULT first",
    answer=list[GroupBrief],
)
def simple_groups(ctx: Call) -> Response:
    puid = ctx.caller().puid
    groups = [_default(ctx, puid), *ctx.store.groups(puid)]
    return ok([render.group_brief(int(g["gid"]), g["name"]) for g in groups])


@endpoint(
    router,
    "POST",
    "/v1/groups/create",
    summary="Create a worker group",
    answer=Status,
    params=GroupCreateParams,
)
def create_group(ctx: Call) -> Response:
    """``{"status": true}``, as BTC.COM's document answers; the new group's gid is in
    ``/v1/groups/simple`` and ``/v1/worker/groups``."""
    puid = ctx.caller(write=True).puid
    name = _name("group_name", ctx.args(GroupCreateParams).group_name)
    try:
        ctx.store.create_group(puid, name, ctx.now)
    except GroupExists:
        raise ApiError(PARAM_ERROR, f"group_name: {_NAME_TAKEN}") from None
    return ok(Status(status=True))


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
    p = ctx.args(GroupRenameParams)
    field, given = ("name", p.name) if p.name is not None else ("group_name", p.group_name)
    if given is None:
        raise ApiError(PARAM_ERROR, "name: required (the group's new name)")
    name = _name(field, given)
    try:
        renamed = ctx.store.rename_group(puid, number, name, ctx.now)
    except GroupExists:
        raise ApiError(PARAM_ERROR, f"{field}: {_NAME_TAKEN}") from None
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


# After the writes and /simple: GET /v1/groups/create or /simple must not be taken for a gid.
@endpoint(router, "GET", "/v1/groups/{gid}", summary="One worker group", answer=GroupItem)
def get_group(ctx: Call, gid: str) -> Response:
    """gid 0 is "ALL", every group's workers together, as in BTC.COM's document's example
    (``"gid": 0, "name": "ALL"``): the same 0 that means "every group" to ``/v1/worker``."""
    puid = ctx.caller().puid
    number = int_path("gid", gid)
    stats = _stats(ctx, puid)
    if number == render.ALL_GID:
        return ok(render.group_item(render.all_group(_created_at(ctx, puid)), _sum(stats)))
    group = _default(ctx, puid) if number == render.DEFAULT_GID else _own(ctx, puid, number)
    return ok(render.group_item(group, stats.get(number)))


def _created_at(ctx: Call, puid: int) -> int:
    profile = ctx.store.subaccount_profile(puid)
    return int(profile["created_at"]) if profile else 0


def _default(ctx: Call, puid: int) -> dict[str, Any]:
    return render.default_group(_created_at(ctx, puid))


def _sum(stats: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """The groups' ``group_stats`` rows added up, column by column (``None`` for none)."""
    rows = [{k: v for k, v in row.items() if k != "group_id"} for row in stats.values()]
    return {k: sum(r[k] for r in rows) for k in rows[0]} if rows else None


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


def _name(field: str, name: str) -> str:
    """``name`` checked as a group name, errors naming ``field`` (the parameter it came in)."""
    if not name.isprintable() or name != name.strip():
        raise ApiError(PARAM_ERROR, f"{field}: no control characters or surrounding spaces allowed")
    if name.casefold() == render.DEFAULT_NAME.casefold():
        raise ApiError(PARAM_ERROR, f"{field}: {render.DEFAULT_NAME} is the default group's")
    return name
