"""Operations endpoints: ``/healthz`` for load balancers, ``/metrics`` for Prometheus."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from poolstats.api.hashrate_gauges import set_hashrate_gauges
from poolstats.api.node import ApiNode
from poolstats.threads import in_thread

router = APIRouter()
# One scrape at a time sets the hashrate gauges and renders them: another's clear of the
# per-sub-account gauge would otherwise empty it while this one renders.
_SCRAPE = threading.Lock()


@router.get(
    "/healthz",
    summary="Liveness and the state of the pipeline",
    responses={
        503: {
            "description": "a node: ingest cannot take shares; an API process: the store "
            "cannot be read (the reasons say why)"
        }
    },
)
async def healthz(request: Request) -> JSONResponse:
    """``ok`` (200), or ``degraded`` with its reasons. A node: 503 while ingest refuses
    shares, 200 while only the store lags (see ``domain.health`` for why the two differ).
    An API process (``poolstats api``): each partition's last flush and lease, 200 while the
    store answers (stale partitions make it ``degraded``), 503 when it does not."""
    node: ApiNode = request.app.state.service
    status, body = await in_thread(node.health_report)
    return JSONResponse(body, status_code=status)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    node: ApiNode = request.app.state.service
    # Not a request's store read (api/threads.py): the engine under the ingest lock, or a
    # few small store reads, one scrape at a time (_SCRAPE)
    text = await in_thread(_scrape, node)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


def _scrape(node: ApiNode) -> bytes:
    with _SCRAPE:
        node.scrape_gauges()
        set_hashrate_gauges(node)
        return generate_latest(node.metrics.registry)
