"""BTC.COM's public pool figures: this node's, and all nodes' merged.

A node's peers are other poolstats nodes (``--peer URL``). The merge asks them all at once,
each within ``peer_timeout_s`` from start to end, for their exact difficulty sums
(``?sums=1``, poolstats' own addition) and adds them up. A peer that is down, slow, or
answers anything but well-formed, finite, non-negative figures is reported as not ok and
left out: it never fails the request.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import msgspec
from fastapi import APIRouter, Request, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import call, endpoint, ok
from poolstats.api.btccom.schemas import (
    MergedPoolStats,
    NodeAnswer,
    NodeSums,
    PoolParams,
    PoolStats,
)
from poolstats.api.node import ApiNode
from poolstats.api.threads import read

router = APIRouter(tags=["BTC.COM: pool"])
log = logging.getLogger(__name__)
STATS_PATH = "/public/v1/pool/stats"
MAX_PEER_ANSWER_BYTES = 64 * 1024


class _PeerData(msgspec.Struct):
    sums: NodeSums


class _PeerEnvelope(msgspec.Struct):
    err_no: int
    data: _PeerData | None = None


@endpoint(router, "GET", STATS_PATH, summary="This node's pool figures", answer=PoolStats,
          params=PoolParams, auth=False)  # fmt: skip
async def pool_stats(request: Request) -> Response:
    wanted = (await call(request)).args(PoolParams)
    sums = await _local(request)
    answer = render.pool_stats([sums])
    if wanted.sums:
        answer.sums = sums
    return ok(answer)


@endpoint(router, "GET", STATS_PATH + "/merge", summary="Every node's pool figures, merged",
          answer=MergedPoolStats, auth=False)  # fmt: skip
async def pool_stats_merged(request: Request) -> Response:
    await call(request)  # no parameters of its own, but a body is checked as everywhere else
    service: ApiNode = request.app.state.service
    settings = service.settings
    peers = settings.peer_urls()
    async with httpx.AsyncClient() as client:
        local, answers = await asyncio.gather(
            _local(request),
            asyncio.gather(*(_peer(client, url, settings.peer_timeout_s) for url in peers)),
        )
    nodes = [NodeAnswer(name=local.node, ok=True)]
    nodes += [
        NodeAnswer(name=a.node if a is not None and a.node else url, ok=a is not None)
        for url, a in zip(peers, answers, strict=True)
    ]
    merged = render.pool_stats([local, *(a for a in answers if a is not None)])
    return ok(
        MergedPoolStats(
            shares=merged.shares,
            reject=merged.reject,
            workers=merged.workers,
            users=merged.users,
            nodes=nodes,
        )
    )


async def _local(request: Request) -> NodeSums:
    service: ApiNode = request.app.state.service
    row = await read(request, service.store.pool_stats)
    return render.node_sums(row, service.settings.node())


async def _peer(client: httpx.AsyncClient, base_url: str, timeout_s: float) -> NodeSums | None:
    try:
        return await asyncio.wait_for(_ask(client, base_url), timeout_s)
    except Exception as exc:  # whatever a peer does, this node still answers
        log.warning("peer %s left out of the merged pool stats: %r", base_url, exc)
        return None


async def _ask(client: httpx.AsyncClient, base_url: str) -> NodeSums:
    url = base_url.rstrip("/") + STATS_PATH
    async with client.stream("GET", url, params={"sums": "1"}) as response:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_PEER_ANSWER_BYTES:
                raise ValueError(f"answer longer than {MAX_PEER_ANSWER_BYTES} bytes")
    answer = msgspec.json.decode(bytes(body), type=_PeerEnvelope)
    if response.status_code != 200 or answer.err_no != 0 or answer.data is None:
        raise ValueError(f"HTTP {response.status_code}, err_no {answer.err_no}")
    return answer.data.sums
