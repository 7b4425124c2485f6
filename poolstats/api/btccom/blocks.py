"""The blocks the pool found, newest first, in BTC.COM's envelope; public, as pools publish
their blocks, and so naming no finder: sub-accounts and worker names are their owners'
business (``poolstats blocks`` shows them to the operator).

- ``GET /v1/blocks``: BTC.COM's own (its pool document, "Get Mining Pool Explosion Data"),
  in its shape: the blocks the network did not reject, with the pool's counts, rewards,
  hashrate, active workers and luck (``api.luck``, over the pool's kept daily history).
- ``GET /v1/pool/blocks``: every block with its status and the node's reason, for
  operators and for scripts that want rejected blocks too.
"""

from __future__ import annotations

from fractions import Fraction

import msgspec
from fastapi import APIRouter, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import Call, endpoint, ok
from poolstats.api.btccom.schemas import ListPage, PageParams
from poolstats.api.luck import lucky_days
from poolstats.domain.found_block import FoundBlock
from poolstats.domain.hashrate import four_significant, hashrate_hs, pick_unit
from poolstats.domain.luck import luck
from poolstats.store.blocks import BlockStore

router = APIRouter(tags=["Pool blocks"])


class BlockItem(msgspec.Struct):
    height: int
    hash: str
    reward: int  # satoshis the coinbase pays: subsidy and fees
    found_at: int
    status: str  # submitted, accepted or rejected
    reason: str  # the node's reason for a rejection ("" otherwise)


class BlockList(ListPage, rename={"items": "list"}):
    items: list[BlockItem]  # "list" in JSON


@endpoint(router, "GET", "/v1/pool/blocks", summary="Blocks the pool found, newest first",
          answer=BlockList, params=PageParams, auth=False)  # fmt: skip
def list_blocks(ctx: Call) -> Response:
    p = ctx.args(PageParams)
    total, blocks = BlockStore(ctx.store).page((p.page - 1) * p.page_size, p.page_size)
    return ok(
        BlockList(
            page=p.page,
            page_size=p.page_size,
            page_count=render.page_count(total, p.page_size),
            total_count=total,
            items=[_item(b) for b in blocks],
        )
    )


def _item(block: FoundBlock) -> BlockItem:
    return BlockItem(
        height=block.height,
        hash=block.hash,
        reward=block.reward_sat,
        found_at=block.found_at,
        status=block.status.value,
        reason=block.reason,
    )


class FoundItem(msgspec.Struct):
    height: int
    created_at: int  # when the pool found it
    hash: str
    rewards: int  # satoshis the coinbase pays


class FoundList(msgspec.Struct):
    """BTC.COM's types, kept: ``total_count``, ``blocks_count`` and ``rewards_count`` are
    strings of integers, ``hashrate`` a number in ``hashrate_unit``, ``luck`` a string."""

    page: int
    page_size: int
    page_count: int
    total_count: str
    blocks_count: str
    rewards_count: str  # satoshis, every listed block's
    hashrate: float  # the pool's 15-minute hashrate
    hashrate_unit: str
    luck: str | None  # 4 decimals; null before any work with a known network difficulty
    miners_count: int  # ACTIVE workers of the pool
    blocks: list[FoundItem]


@endpoint(router, "GET", "/v1/blocks", summary="Blocks the pool found, with its luck (BTC.COM)",
          answer=FoundList, params=PageParams, auth=False)  # fmt: skip
def found_blocks(ctx: Call) -> Response:
    p = ctx.args(PageParams)
    blocks = BlockStore(ctx.store)
    total, page = blocks.page((p.page - 1) * p.page_size, p.page_size, found=True)
    days = list(lucky_days(ctx.store))
    ratio = luck(sum(d.found for d in days), sum((d.expected for d in days), Fraction(0)))
    pool = ctx.store.pool_stats()
    rate = hashrate_hs(float(pool["accept_15m"]), 900) if pool else 0.0
    unit, size = pick_unit([rate])
    return ok(
        FoundList(
            page=p.page,
            page_size=p.page_size,
            page_count=render.page_count(total, p.page_size),
            total_count=str(total),
            blocks_count=str(total),
            rewards_count=str(blocks.found_totals()[1]),
            hashrate=float(four_significant(rate / size)),
            hashrate_unit=unit,
            luck=None if ratio is None else f"{ratio:.4f}",
            miners_count=int(pool["workers_active"]) if pool else 0,
            blocks=[FoundItem(b.height, b.found_at, b.hash, b.reward_sat) for b in page],
        )
    )
