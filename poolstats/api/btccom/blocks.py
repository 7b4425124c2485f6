"""``GET /v1/pool/blocks``: the blocks the pool found, newest first, in BTC.COM's envelope.

BTC.COM's documents have no blocks endpoint; this one follows their conventions (``page``,
``page_size``, the list under ``list``). It is public, as pools publish their blocks, and so
it names no finder: sub-accounts and worker names are their owners' business
(``poolstats blocks`` shows them to the operator).
"""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import Call, endpoint, ok
from poolstats.api.btccom.schemas import ListPage, PageParams
from poolstats.domain.found_block import FoundBlock
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
    total, blocks = BlockStore(ctx.store).page(
        (p.page - 1) * p.page_size, p.page_size
    )
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
