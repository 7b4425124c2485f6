"""BTC.COM's alert API (docs/alerts.md): settings, contacts and the alert log of the calling
sub-account, and ``alert_settings`` for ``/v1/account/info``'s ``alert`` object.

Parameter names are BTC.COM's (btccom/btc_pool_docs, docs/alert.md). Its ``/alert/get`` and
``/alert/contacts/my`` answered a bare list, kept here (``endpoint`` documents a list answer).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import (
    NO_PERMISSION,
    PARAM_ERROR,
    ApiError,
    Call,
    endpoint,
    ok,
)
from poolstats.api.btccom.schemas import (
    AlertContactItem,
    AlertLogItem,
    AlertLogParams,
    AlertReadParams,
    AlertSettingParams,
    AlertSettings,
    ContactCreateParams,
    ContactDeleteParams,
    ContactId,
    ContactUpdateParams,
    Flag,
    HashrateUnit,
    Status,
)
from poolstats.domain.hashrate import four_significant, hashrate_hs, unit_size
from poolstats.store.alerts import AlertConfig, AlertStore
from poolstats.store.base import Store

router = APIRouter(tags=["BTC.COM: alerts"])
_NOT_YOURS = "id: not a contact of this sub-account"
_NO_SMS = "SMS alerts are not supported; give email or webhook_url"


def alert_store(store: Store) -> AlertStore:
    """The alert tables of the node's store (every store is a unit of work)."""
    return AlertStore(store)


def alert_settings(store: Store, puid: int) -> AlertSettings:
    """``/v1/account/info``'s ``alert`` object.

    ``hashrate_max`` and ``miner_max`` are the sub-account's figures now, as of the last
    flush: its 15-minute hashrate in ``hashrate_unit`` and its ACTIVE workers, the highest
    thresholds that do not fire at once ("0" for a sub-account without shares, as in
    BTC.COM's example)."""
    config = alert_store(store).settings(puid)
    stats = store.subaccount_stats(puid)
    accept_15m = float(stats["accept_15m"]) if stats else 0.0
    active = int(stats["workers_active"]) if stats else 0
    return render_settings(config, hashrate_hs(accept_15m, 900), active)


def render_settings(config: AlertConfig, hashrate_now_hs: float, active_now: int) -> AlertSettings:
    return AlertSettings(
        hashrate_max=four_significant(hashrate_now_hs / unit_size(config.unit)),
        hashrate_value=config.hashrate,
        hashrate_unit=config.unit,
        hashrate_alert=int(config.hashrate_enabled),
        miner_max=str(active_now),
        miner_value=str(config.miners),
        miner_alert=int(config.miners_enabled),
        alert_interval=config.interval,
    )


@endpoint(
    router,
    "POST",
    "/v1/alert/setting/update",
    summary="Change the alert settings",
    answer=Status,
    params=AlertSettingParams,
)
def update_settings(ctx: Call) -> Response:
    """Fields left out keep their values; an alert turned off clears without a notice."""
    puid = ctx.caller(write=True).puid
    p = ctx.args(AlertSettingParams)
    given = {
        "interval": p.interval,
        "hashrate": p.hashrate,
        "unit": p.unit,
        "hashrate_enabled": None if p.hashrate_enabled is None else bool(p.hashrate_enabled),
        "miners": p.miners,
        "miners_enabled": None if p.miners_enabled is None else bool(p.miners_enabled),
    }
    return _update(ctx, puid, {k: v for k, v in given.items() if v is not None})


def _update(ctx: Call, puid: int, changes: dict[str, Any]) -> Response:
    """Apply the given settings (left out: kept) of the sub-account ``puid``."""
    try:
        alert_store(ctx.store).update_settings(puid, changes, ctx.now)
    except ValueError as exc:
        raise ApiError(PARAM_ERROR, str(exc)) from None
    return ok(Status(status=True))


# BTC.COM's three single-purpose setting endpoints (docs/alert.md): each a part of
# /v1/alert/setting/update, with its fields required and ``enabled`` for the switch.
class IntervalParams(msgspec.Struct):
    interval: Annotated[int, msgspec.Meta(ge=2, le=24, description="Hours between reminders.")]


class HashrateSettingParams(msgspec.Struct):
    hashrate: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=20,
            description="Hashrate threshold in `unit`, a non-negative decimal (e.g. 10.5).",
        ),
    ]
    enabled: Flag
    unit: HashrateUnit = "T"


class MinersSettingParams(msgspec.Struct):
    miners: Annotated[int, msgspec.Meta(ge=0, le=10**9, description="ACTIVE workers threshold.")]
    enabled: Flag


class AccountAlertParams(msgspec.Struct):
    """BTC.COM's older ``/account/alert/update``: the thresholds alone, hashrate in T."""

    hashrate: (
        Annotated[int, msgspec.Meta(ge=0, le=10**12, description="Hashrate threshold in T.")] | None
    ) = None
    miner: (
        Annotated[int, msgspec.Meta(ge=0, le=10**9, description="ACTIVE workers threshold.")] | None
    ) = None


class ContactGetParams(msgspec.Struct):
    id: ContactId


@endpoint(
    router,
    "POST",
    "/v1/alert/setting/interval",
    summary="Change the hours between alert reminders",
    answer=Status,
    params=IntervalParams,
)
def update_interval(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid  # a wrong key is refused before its parameters
    return _update(ctx, puid, {"interval": ctx.args(IntervalParams).interval})


@endpoint(
    router,
    "POST",
    "/v1/alert/setting/hashrate",
    summary="Change the hashrate alert",
    answer=Status,
    params=HashrateSettingParams,
)
def update_hashrate(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    p = ctx.args(HashrateSettingParams)
    return _update(
        ctx, puid, {"hashrate": p.hashrate, "unit": p.unit, "hashrate_enabled": bool(p.enabled)}
    )


@endpoint(
    router,
    "POST",
    "/v1/alert/setting/miners",
    summary="Change the ACTIVE workers alert",
    answer=Status,
    params=MinersSettingParams,
)
def update_miners(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    p = ctx.args(MinersSettingParams)
    return _update(ctx, puid, {"miners": p.miners, "miners_enabled": bool(p.enabled)})


@endpoint(
    router,
    "POST",
    "/v1/account/alert/update",
    summary="Change the alert thresholds (BTC.COM's account form)",
    answer=Status,
    params=AccountAlertParams,
)
def update_account_alert(ctx: Call) -> Response:
    """Thresholds only: whether each alert is on stays as set by /v1/alert/setting/*."""
    puid = ctx.caller(write=True).puid
    p = ctx.args(AccountAlertParams)
    changes: dict[str, Any] = {}
    if p.hashrate is not None:
        changes |= {"hashrate": str(p.hashrate), "unit": "T"}
    if p.miner is not None:
        changes["miners"] = p.miner
    return _update(ctx, puid, changes)


@endpoint(
    router,
    "GET",
    "/v1/alert/get",
    summary="The alert log, newest first",
    answer=list[AlertLogItem],
    params=AlertLogParams,
)
def alert_log(ctx: Call) -> Response:
    puid = ctx.caller().puid
    p = ctx.args(AlertLogParams)
    alerts = alert_store(ctx.store)
    _, rows = alerts.log(puid, (p.page - 1) * p.page_size, p.page_size)
    uid, name = _owner(ctx, puid)
    now_interval = alerts.settings(puid).interval
    return ok(
        [
            AlertLogItem(
                id=int(r["id"]),
                uid=uid,
                puid=puid,
                puid_name=name,
                type=r["kind"],
                event=r["event"],
                expect=r["threshold"],
                actual=r["value"],
                unit=r["unit"] or None,
                created_at=int(r["created_at"]),
                is_read=int(bool(r["is_read"])),
                interval=int(r["interval_h"]),
                now_interval=now_interval,
                message=r["message"],
            )
            for r in rows
        ]
    )


# BTC.COM documented /alert/read as a GET, so scripts call it that way: served as documented
# (marking an entry read again changes nothing) and as a POST like every other write. The GET
# is registered first (decorators apply bottom up): the POST's registration answers other
# GETs with 405.
@endpoint(
    router,
    "POST",
    "/v1/alert/read",
    summary="Mark an alert log entry read",
    answer=Status,
    params=AlertReadParams,
)
@endpoint(
    router,
    "GET",
    "/v1/alert/read",
    summary="Mark an alert log entry read (BTC.COM's GET form)",
    answer=Status,
    params=AlertReadParams,
)
def mark_read(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    log_id = ctx.args(AlertReadParams).log_id
    if not alert_store(ctx.store).mark_read(puid, log_id):
        raise ApiError(NO_PERMISSION, "log_id: not an alert of this sub-account")
    return ok(Status(status=True))


@endpoint(
    router,
    "GET",
    "/v1/alert/contacts/my",
    summary="The alert contacts",
    answer=list[AlertContactItem],
)
def my_contacts(ctx: Call) -> Response:
    """Not for watcher tokens: webhook URLs often carry a secret of their own."""
    puid = ctx.caller(watchers=False).puid
    uid, _ = _owner(ctx, puid)
    return ok([_contact(uid, c) for c in alert_store(ctx.store).contacts(puid)])


@endpoint(
    router,
    "GET",
    "/v1/alert/contacts/get",
    summary="One alert contact, or null when the sub-account has none with that id",
    answer=AlertContactItem,
    params=ContactGetParams,
)
def get_contact(ctx: Call) -> Response:
    """``data: null`` for an id that is not one of the caller's contacts, as BTC.COM answered:
    whether another sub-account has it stays unsaid. Not for watcher tokens, as
    ``contacts/my``."""
    puid = ctx.caller(watchers=False).puid
    wanted = ctx.args(ContactGetParams).id
    uid, _ = _owner(ctx, puid)
    found = [c for c in alert_store(ctx.store).contacts(puid) if int(c["id"]) == wanted]
    return ok(_contact(uid, found[0]) if found else None)


@endpoint(
    router,
    "POST",
    "/v1/alert/contacts/create",
    summary="Add an alert contact (email and/or webhook)",
    answer=Status,
    params=ContactCreateParams,
)
def create_contact(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    _refuse_phone(ctx)
    p = ctx.args(ContactCreateParams)
    try:
        alert_store(ctx.store).create_contact(puid, p.note, p.email, p.webhook_url, ctx.now)
    except ValueError as exc:  # TooManyContacts too
        raise ApiError(PARAM_ERROR, str(exc)) from None
    return ok(Status(status=True))


@endpoint(
    router,
    "POST",
    "/v1/alert/contacts/update",
    summary="Change an alert contact",
    answer=Status,
    params=ContactUpdateParams,
)
def update_contact(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    _refuse_phone(ctx)
    p = ctx.args(ContactUpdateParams)
    given = {"note": p.note, "email": p.email, "webhook_url": p.webhook_url}
    changes = {k: v for k, v in given.items() if v is not None}
    try:
        updated = alert_store(ctx.store).update_contact(puid, p.id, changes, ctx.now)
    except ValueError as exc:
        raise ApiError(PARAM_ERROR, str(exc)) from None
    if updated is None:
        raise ApiError(NO_PERMISSION, _NOT_YOURS)
    return ok(Status(status=True))


@endpoint(
    router,
    "POST",
    "/v1/alert/contacts/delete",
    summary="Delete an alert contact",
    answer=Status,
    params=ContactDeleteParams,
)
def delete_contact(ctx: Call) -> Response:
    puid = ctx.caller(write=True).puid
    if not alert_store(ctx.store).delete_contact(puid, ctx.args(ContactDeleteParams).id):
        raise ApiError(NO_PERMISSION, _NOT_YOURS)
    return ok(Status(status=True))


def _owner(ctx: Call, puid: int) -> tuple[int, str]:
    """(account id, sub-account name): BTC.COM's ``uid`` and ``puid_name``."""
    profile = ctx.store.subaccount_profile(puid)
    if profile is None:  # the key's grant named it a moment ago; only a race gets here
        raise ApiError(NO_PERMISSION, "puid: no such sub-account")
    return int(profile["account_id"]), str(profile["name"])


def _refuse_phone(ctx: Call) -> None:
    """BTC.COM's contacts took a phone number for SMS; silently dropping one would leave its
    owner waiting for messages that never come."""
    for name in ("phone", "region_code"):
        if ctx.params.get(name):
            raise ApiError(PARAM_ERROR, f"{name}: {_NO_SMS}")


def _contact(uid: int, c: dict[str, Any]) -> AlertContactItem:
    return AlertContactItem(
        id=int(c["id"]),
        uid=uid,
        puid=int(c["puid"]),
        note=c["note"],
        email=c["email"],
        webhook_url=c["webhook_url"],
        created_at=render.utc_datetime(int(c["created_at"])),
        updated_at=render.utc_datetime(int(c["updated_at"])),
    )
