"""BTC.COM's public pool endpoints: this node's figures and all nodes' merged, the pool's
status and hashrate history, and the stratum addresses it advertises.

Public, as on BTC.COM: its documents ask for ``access_key`` and ``puid`` only on "user-related"
calls, and the pool document's calls take no key; one given anyway is ignored.

A node's peers are other poolstats nodes (``--peer URL``). The merge asks them all at once,
each within ``peer_timeout_s`` from start to end, for their exact difficulty sums
(``?sums=1``, poolstats' own addition) and adds them up. A peer that is down, slow, or
answers anything but well-formed, finite, non-negative figures is reported as not ok and
left out: it never fails the request.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Annotated

import httpx
import msgspec
from fastapi import APIRouter, Request, Response

from poolstats.api.btccom import render
from poolstats.api.btccom.envelope import PARAM_ERROR, ApiError, Call, call, endpoint, ok
from poolstats.api.btccom.income import network_now
from poolstats.api.btccom.schemas import (
    HistoryParams,
    MergedPoolStats,
    NodeAnswer,
    NodeSums,
    PoolParams,
    PoolStats,
)
from poolstats.api.btccom.workers import history_period
from poolstats.api.node import ApiNode
from poolstats.api.threads import read
from poolstats.domain.earnings import btc_text
from poolstats.domain.hashrate import four_significant, pick_unit
from poolstats.domain.history import btccom_span, btccom_tickers, bucket_sums
from poolstats.domain.mining_income import fpps_rate, network_hashrate_hs, unit_income
from poolstats.engine.snapshot import Level

router = APIRouter(tags=["BTC.COM: pool"])
log = logging.getLogger(__name__)
STATS_PATH = "/public/v1/pool/stats"
MAX_PEER_ANSWER_BYTES = 64 * 1024


class PoolStatus(msgspec.Struct):
    """BTC.COM's ``/v1/pool/status``. Earnings are per TH/s a day before the pool's fee
    (``domain.mining_income``). ``null`` where poolstats does not know the figure: every
    network figure before a network state is recorded; the retarget estimate
    (``estimated_next_difficulty``, ``difficulty_change``, ``time_remain``), which needs block
    times that poolstats does not keep; ``exchange_rate``, as poolstats has no price feed and
    will not make one up."""

    network_hashrate: str | None  # implied by the difficulty, two decimals
    network_hashrate_unit: str | None
    pool_hashrate: float  # the last 15 minutes
    pool_hashrate_unit: str
    mining_earnings: str | None  # BTC, PPS: the subsidy
    mining_earnings_satoshis: str | None
    fpps_mining_earnings: str | None  # BTC, FPPS: the subsidy and the average fees
    fpps_mining_earnings_satoshis: str | None
    estimated_next_difficulty: str | None
    difficulty_change: str | None
    time_remain: str | None
    exchange_rate: dict[str, float] | None
    fpps_rate: str | None  # fees per block / subsidy: how much more FPPS pays than PPS


class PoolShareHistory(msgspec.Struct):
    """The pool's hashrate history; ``unit`` where the worker history has ``shares_unit``."""

    unit: str
    tickers: list[list[str | None]]


class StratumNode(msgspec.Struct):
    """One region of ``/v1/pool/node-list``; ``text`` names the region as the setting does.
    Every region is served by this node's API, so ``default_url`` is its address as the
    client reached it and ``ping_url`` its ``/healthz``."""

    default_url: str
    ping_url: str
    region_name: str
    text: str
    stratum: list[str]


class UrlConfig(msgspec.Struct):
    """One region of ``/v1/pool/url-config``."""

    region: str
    region_id: int
    region_name: str
    config: list[str]


class UrlConfigParams(msgspec.Struct):
    region_id: Annotated[int, msgspec.Meta(ge=1, le=2**31)] | None = None


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


@endpoint(router, "GET", "/v1/pool/status", summary="The network and the pool now",
          answer=PoolStatus, auth=False)  # fmt: skip
def pool_status(ctx: Call) -> Response:
    pool = ctx.store.pool_stats()
    rate = render.rate_hs(pool, "15m") if pool else 0.0
    unit, size = pick_unit([rate])
    state = network_now(ctx)
    answer = PoolStatus(
        network_hashrate=None,
        network_hashrate_unit=None,
        pool_hashrate=float(four_significant(rate / size)),
        pool_hashrate_unit=unit,
        mining_earnings=None,
        mining_earnings_satoshis=None,
        fpps_mining_earnings=None,
        fpps_mining_earnings_satoshis=None,
        estimated_next_difficulty=None,
        difficulty_change=None,
        time_remain=None,
        exchange_rate=None,
        fpps_rate=None,
    )
    if state is not None:
        network = network_hashrate_hs(state.difficulty)
        net_unit, net_size = pick_unit([network])
        income = unit_income(state)
        pps_sat, fpps_sat = math.floor(income.pps), math.floor(income.fpps)  # as settled
        ratio = fpps_rate(state)
        answer.network_hashrate = f"{network / net_size:.2f}"
        answer.network_hashrate_unit = net_unit
        answer.mining_earnings, answer.mining_earnings_satoshis = btc_text(pps_sat), str(pps_sat)
        answer.fpps_mining_earnings = btc_text(fpps_sat)
        answer.fpps_mining_earnings_satoshis = str(fpps_sat)
        answer.fpps_rate = None if ratio is None else f"{float(ratio):.8f}"
    return ok(answer)


@endpoint(router, "GET", "/v1/pool/share-history", summary="The pool's hashrate history",
          answer=PoolShareHistory, params=HistoryParams, auth=False)  # fmt: skip
def pool_history(ctx: Call) -> Response:
    """The rules of ``/v1/worker/share-history`` (``domain.history``) on the pool's buckets."""
    p = ctx.args(HistoryParams)
    period_s = history_period(Level.POOL, p.dimension)
    span = btccom_span(p.start_ts, p.count, period_s, ctx.now)
    rows = ctx.store.history(Level.POOL, period_s, 0, 0, span.first, span.stop)
    unit, tickers = btccom_tickers(bucket_sums(rows), span, ctx.now, p.real_point)
    return ok(PoolShareHistory(unit=unit, tickers=tickers))


@endpoint(router, "GET", "/v1/pool/node-list", summary="Stratum addresses by region",
          answer=list[StratumNode], auth=False)  # fmt: skip
async def node_list(request: Request) -> Response:
    ctx = await call(request)
    base = str(request.base_url).rstrip("/")
    return ok(
        [
            StratumNode(
                default_url=base,
                ping_url=base + "/healthz",
                region_name=region.name,
                text=region.name,
                stratum=list(region.addresses),
            )
            for region in ctx.service.settings.stratum_regions()
        ]
    )


class DashboardConfig(msgspec.Struct):
    """What a client needs to present this pool's figures (poolstats' own): how often they
    change (the flush interval: polling faster only repeats them) and where a payout's
    transaction can be looked at (``explorer_tx_url``, ``{txid}`` standing for its id)."""

    refresh_s: float
    explorer_tx_url: str  # "": no link


@endpoint(router, "GET", "/v1/pool/dashboard-config", summary="How to present the figures",
          answer=DashboardConfig, auth=False)  # fmt: skip
def dashboard_config(ctx: Call) -> Response:
    settings = ctx.service.settings
    return ok(DashboardConfig(settings.flush_interval_s, settings.tx_link()))


@endpoint(router, "GET", "/v1/pool/url-config", summary="Stratum addresses by region",
          answer=list[UrlConfig], params=UrlConfigParams, auth=False)  # fmt: skip
def url_config(ctx: Call) -> Response:
    """Every region, or the one ``region_id`` names (err_no 1 if there is none)."""
    wanted = ctx.args(UrlConfigParams).region_id
    regions = [
        UrlConfig(
            region=r.name, region_id=r.region_id, region_name=r.name, config=list(r.addresses)
        )
        for r in ctx.service.settings.stratum_regions()
        if wanted is None or r.region_id == wanted
    ]
    if wanted is not None and not regions:
        raise ApiError(PARAM_ERROR, f"region_id: no region {wanted}")
    return ok(regions)


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
