"""Tangpool's pool document (矿池运行数据): found blocks, the chain's newest block, the pool's
hashrate history and its luck. Public: no key.

poolstats learns the chain from the network entries it records (a new one when the
difficulty, the subsidy or the fees change, not at every block) and from the blocks it finds,
so "the newest block" is the newest of those two, and a block's confirmations are counted to
it: a lower bound. Block sizes are not kept ("0"); a block the node rejected is shown as an
orphan.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from fastapi import APIRouter

from poolstats.api.btccom import render
from poolstats.api.luck import lucky_days
from poolstats.api.tangpool.common import (
    Ask,
    Btc,
    PageParams,
    invalid,
    not_found,
    page_fields,
    route,
)
from poolstats.api.tangpool.common import Page as PageAnswer
from poolstats.api.tangpool.share import ShareAnswer, ShareParams, series
from poolstats.domain.earnings import SECONDS_PER_DAY
from poolstats.domain.found_block import BlockStatus, FoundBlock
from poolstats.domain.luck import luck
from poolstats.engine.snapshot import Level
from poolstats.store.blocks import BlockStore

router = APIRouter(tags=["Tangpool: pool"])
BLOCKS_PER_PAGE = 15  # Tangpool's page of blocks
MAX_LUCK_DAYS = 366


class TangpoolBlock(msgspec.Struct):
    confirmed_blocks_count: int
    running_duration: int  # seconds since the pool's block before it (0 for its first)
    blk_height: str
    blk_rewards: Btc
    blk_hash: str
    is_orphan: str
    blk_size: str
    created_at: str


class TangpoolBlockList(PageAnswer):
    data: list[TangpoolBlock]


@route(router, "/pool/block", summary="Blocks the pool found, newest first, 15 a page",
       answer=TangpoolBlockList, params=PageParams, auth=False)  # fmt: skip
def blocks(ask: Ask) -> TangpoolBlockList:
    p = ask.args(PageParams)
    offset = (p.page - 1) * BLOCKS_PER_PAGE
    store = BlockStore(ask.store)
    total, found = store.page(offset, BLOCKS_PER_PAGE + 1)  # one more: the last one's gap
    tip = _tip(ask, store)
    tip_height = tip.height if tip is not None else 0
    shown = found[:BLOCKS_PER_PAGE]
    items = [
        TangpoolBlock(
            confirmed_blocks_count=(
                max(0, tip_height - b.height + 1) if b.status is BlockStatus.ACCEPTED else 0
            ),
            running_duration=b.found_at - found[i + 1].found_at if i + 1 < len(found) else 0,
            blk_height=str(b.height),
            blk_rewards=Btc(b.reward_sat),
            blk_hash=b.hash,
            is_orphan="1" if b.status is BlockStatus.REJECTED else "0",
            blk_size="0",
            created_at=render.utc_datetime(b.found_at),
        )
        for i, b in enumerate(shown)
    ]
    return TangpoolBlockList(**page_fields(p.page, BLOCKS_PER_PAGE, total, len(items)), data=items)


class TangpoolLatest(msgspec.Struct):
    timestamp: int
    created_at: str
    latest_hash: str  # "" when the newest known block is not one the pool found
    latest_height: str


@route(router, "/pool/block/latest", summary="The newest block poolstats knows of",
       answer=TangpoolLatest, auth=False, can_miss=True)  # fmt: skip
def latest(ask: Ask) -> TangpoolLatest:
    tip = _tip(ask, BlockStore(ask.store))
    if tip is None:
        raise not_found("latest: no network entry and no block found yet")
    return TangpoolLatest(
        timestamp=tip.found_at,
        created_at=render.utc_datetime(tip.found_at),
        latest_hash=tip.hash,
        latest_height=str(tip.height),
    )


def _tip(ask: Ask, store: BlockStore) -> FoundBlock | None:
    """The highest block known: the newest network entry's (its hash unknown) or the pool's
    newest accepted block, whichever is higher (the pool's on a tie: its hash is known)."""
    entry = ask.store.network_at(ask.now)
    known = (
        None
        if entry is None
        else FoundBlock(int(entry["height"]), "", 0, "", 0, int(entry["at"]), BlockStatus.ACCEPTED)
    )
    _, newest = store.page(0, 1)
    ours = newest[0] if newest and newest[0].status is BlockStatus.ACCEPTED else None
    if ours is not None and (known is None or ours.height >= known.height):
        return ours
    return known


@route(router, "/pool/share", summary="The pool's hashrate history, by interval end",
       answer=ShareAnswer, params=ShareParams, auth=False)  # fmt: skip
def pool_history(ask: Ask) -> ShareAnswer:
    return series(ask, Level.POOL)


Ymd = Annotated[int, msgspec.Meta(ge=19700101, le=99991231, description="A UTC day: Ymd.")]


class LuckParams(msgspec.Struct):
    start: Ymd
    end: Ymd | None = None


@route(router, "/pool/lucky", summary="The pool's luck per UTC day",
       answer=dict[str, str], params=LuckParams, auth=False)  # fmt: skip
def lucky(ask: Ask) -> dict[str, str]:
    """Per day: blocks found (accepted) / blocks expected from the pool's accepted work, 4
    decimals; 1 is par (``domain.luck``). Days without work or without a difficulty known all
    day are left out."""
    p = ask.args(LuckParams)
    first = _day("start", p.start)
    last = _day("end", p.end) if p.end is not None else ask.now // SECONDS_PER_DAY * SECONDS_PER_DAY
    if last < first:
        raise invalid("end: before start")
    if (last - first) // SECONDS_PER_DAY >= MAX_LUCK_DAYS:
        raise invalid(f"end: at most {MAX_LUCK_DAYS} days from start")
    out: dict[str, str] = {}
    for day in lucky_days(ask.store, first, last + SECONDS_PER_DAY):
        ratio = luck(day.found, day.expected)
        if ratio is not None:
            text = dt.datetime.fromtimestamp(day.start, dt.UTC).strftime("%Y%m%d")
            out[text] = f"{ratio:.4f}"
    return out


def _day(field: str, ymd: int) -> int:
    try:
        date = dt.datetime.strptime(str(ymd), "%Y%m%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise invalid(f"{field}: not a day written Ymd, e.g. 20150117") from None
    return int(date.timestamp())
