"""Operations endpoints: ``/healthz`` for load balancers, ``/metrics`` for Prometheus."""

from __future__ import annotations

import threading

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from poolstats.api.hashrate_gauges import set_hashrate_gauges
from poolstats.service import Service

router = APIRouter()
# One scrape at a time sets the hashrate gauges and renders them: another's clear of the
# per-sub-account gauge would otherwise empty it while this one renders.
_SCRAPE = threading.Lock()


@router.get(
    "/healthz",
    summary="Liveness and the state of the pipeline",
    responses={503: {"description": "degraded: ingest cannot take shares (the reasons say why)"}},
)
async def healthz(request: Request) -> JSONResponse:
    """``ok`` (200), or ``degraded`` with its reasons: 503 while ingest refuses shares, 200
    while only the store lags (see ``domain.health`` for why the two differ)."""
    service: Service = request.app.state.service
    now = service.clock.now()
    health = service.health()
    body = {
        "status": health.status,
        "ingest": health.ingest,
        "reasons": list(health.reasons),
        "time": int(now),
        "journal_seq": service.engine.seq,
        "workers_tracked": service.engine.tracked_workers,
        "last_flush": int(service.last_flush_at),
        "flush_age_s": round(now - service.last_flush_at, 3) if service.last_flush_at else None,
    }
    return JSONResponse(body, status_code=health.http_status)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    if service.last_flush_at:
        service.metrics.flush_age.set(service.clock.now() - service.last_flush_at)
    # Not a store read (api/threads.py): the engine, under the ingest lock and _SCRAPE
    text = await anyio.to_thread.run_sync(_scrape, service)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


def _scrape(service: Service) -> bytes:
    with _SCRAPE:
        set_hashrate_gauges(service)
        return generate_latest(service.metrics.registry)
