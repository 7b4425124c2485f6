"""The gateway's HTTP app: ``POST /ingest/shares`` and ``GET /ingest/users/{name}`` as a node
serves them (the same routes), ``/healthz`` and ``/metrics``; no statistics API."""

from __future__ import annotations

import anyio
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from poolstats import __version__
from poolstats.api import ingest
from poolstats.api.auth import Guard
from poolstats.api.connections import CloseUnreadBodies
from poolstats.cluster.gateway import GatewayNode


def create_gateway_app(node: GatewayNode) -> FastAPI:
    app = FastAPI(title="poolstats gateway", version=__version__, docs_url=None, redoc_url=None)
    settings = node.settings
    app.state.service = node
    app.state.ingest_slots = anyio.Semaphore(ingest.INGEST_SLOTS)
    app.state.read_slots = anyio.CapacityLimiter(settings.api_threads)
    app.state.token_guard = Guard("ingest_token", settings, node.clock, node.metrics)
    app.include_router(ingest.router)
    app.include_router(ingest.shares_router)

    @app.get("/healthz", summary="Liveness of the gateway and its share bus")
    async def healthz() -> JSONResponse:
        connected = node.gateway.bus.connected
        body = {
            "status": "ok" if connected else "degraded",
            "role": "gateway",
            "ingest": "ok" if connected else "refusing",
            "partitions": node.gateway.bus.partitions,
            "time": int(node.clock.now()),
        }
        return JSONResponse(body, status_code=200 if connected else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(CloseUnreadBodies)
    return app
