"""BTC.COM's public pool figures: this node's, and all nodes' merged.

A node's peers are other poolstats nodes (``--peer URL``). The merge asks them all at once with
a timeout; a peer that is down or answers nonsense is reported as not ok and left out, never
failing the request.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import anyio
import httpx
import msgspec
from fastapi import APIRouter, Request, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import endpoint, ok
from poolstats.api.btccom.schemas import MergedPoolStats, NodeAnswer, PoolStats
from poolstats.domain.hashrate import unit_size
from poolstats.service import Service

router = APIRouter(tags=["BTC.COM: pool"])
log = logging.getLogger(__name__)
STATS_PATH = "/public/v1/pool/stats"


class _PeerEnvelope(msgspec.Struct):
    err_no: int
    data: PoolStats | None = None


@endpoint(
    router, "GET", STATS_PATH, summary="This node's pool figures", answer=PoolStats, auth=False
)
async def pool_stats(request: Request) -> Response:
    return ok(await _local(request.app.state.service))


@endpoint(
    router,
    "GET",
    STATS_PATH + "/merge",
    summary="Every node's pool figures, merged",
    answer=MergedPoolStats,
    auth=False,
)
async def pool_stats_merged(request: Request) -> Response:
    service: Service = request.app.state.service
    settings = service.settings
    peers = settings.peer_urls()
    async with httpx.AsyncClient(timeout=settings.peer_timeout_s) as client:
        local, answers = await asyncio.gather(
            _local(service), asyncio.gather(*(_peer(client, url) for url in peers))
        )
    stats = [local, *(a for a in answers if a is not None)]
    nodes = [NodeAnswer(name=settings.node_name or socket.gethostname(), ok=True)]
    nodes += [NodeAnswer(name=url, ok=a is not None) for url, a in zip(peers, answers, strict=True)]
    merged = merge(stats)
    return ok(MergedPoolStats(**msgspec.structs.asdict(merged), nodes=nodes))


async def _local(service: Service) -> PoolStats:
    return render.pool_stats(await anyio.to_thread.run_sync(service.store.pool_stats))


async def _peer(client: httpx.AsyncClient, base_url: str) -> PoolStats | None:
    try:
        response = await client.get(base_url.rstrip("/") + STATS_PATH)
        answer = msgspec.json.decode(response.content, type=_PeerEnvelope)
        if response.status_code != 200 or answer.err_no != 0 or answer.data is None:
            raise ValueError(f"HTTP {response.status_code}, err_no {answer.err_no}")
        unit_size(answer.data.shares.shares_unit)  # an unknown unit is nonsense too
        return answer.data
    except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        log.warning("peer %s left out of the merged pool stats: %s", base_url, exc)
        return None


def merge(stats: list[PoolStats]) -> PoolStats:
    """Hashrates and counts add up; each window's reject fraction is weighted by work.

    A node's rejected work is recovered from its fraction f: rejected = accepted * f / (1 - f).
    """
    rates = [0.0, 0.0, 0.0]
    rejected = [0.0, 0.0, 0.0]
    for s in stats:
        size = unit_size(s.shares.shares_unit)
        mine = [s.shares.shares_1m * size, s.shares.shares_5m * size, s.shares.shares_15m * size]
        fractions = [s.reject.r1m, s.reject.r5m, s.reject.r15m]
        for i, (rate, f) in enumerate(zip(mine, fractions, strict=True)):
            rates[i] += rate
            rejected[i] += rate * f / (1 - f) if f < 1 else 0.0
    fractions_out = [
        round(r / (a + r), 4) if a + r > 0 else 0.0 for a, r in zip(rates, rejected, strict=True)
    ]
    return render.pool_answer(
        rates, fractions_out, sum(s.workers for s in stats), sum(s.users for s in stats)
    )
