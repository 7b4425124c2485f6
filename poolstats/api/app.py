"""The app factory: one FastAPI app around one node: a whole ``Service`` (``poolstats serve``)
or a ``ReadNode`` that only reads the store (``poolstats api``); see ``api.node``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from poolstats import __version__
from poolstats.api import btccom, docs, ingest, ops, tangpool
from poolstats.api.auth import Grants, Guard
from poolstats.api.btccom.envelope import NOT_FOUND, PARAM_ERROR, ApiError, envelope, on_api_error
from poolstats.api.connections import CloseUnreadBodies
from poolstats.api.node import ApiNode
from poolstats.threads import in_thread
from poolstats.web import dashboard

DESCRIPTION = """Statistics of a Bitcoin mining pool, with BTC.COM's and Tangpool's public APIs.

BTC.COM dialect: every answer is `{"err_no", "err_msg", "data"}` with HTTP 200, errors
included (err_no 1: a parameter, named in err_msg; 20001: no permission). Parameters go in the
query string, a form or a JSON body. See docs/api.md for every choice made where the original
documents were silent or ambiguous.
"""


def create_app(service: ApiNode, run_timers: bool = True, manage_node: bool = True) -> FastAPI:
    """A ``Service`` must be recovered already; the app runs its timers while it serves and
    flushes and checkpoints on a clean shutdown, unless ``manage_node`` is False: then
    whoever built the node (``poolstats.node``) runs its timers and closes it, and the app
    only serves. POST /ingest/shares is mounted only on a node that takes shares; elsewhere
    it answers 404 naming where shares go."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not manage_node:
            yield
            return
        timers = asyncio.create_task(service.run_timers()) if run_timers else None
        try:
            yield
        finally:
            if timers is not None:
                timers.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timers
            await in_thread(service.close)

    app = FastAPI(
        title="poolstats",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load from a CDN: docs.add_docs serves them locally
        redoc_url=None,
    )
    app.state.service = service
    app.state.ingest_slots = anyio.Semaphore(ingest.INGEST_SLOTS)
    app.state.read_slots = anyio.CapacityLimiter(service.settings.api_threads)
    settings, clock, metrics = service.settings, service.clock, service.metrics
    keys = Guard("access_key", settings, clock, metrics)
    app.state.grants = Grants(service.store, clock, settings.key_cache_s, keys)
    app.state.token_guard = Guard("ingest_token", settings, clock, metrics)
    app.include_router(ingest.shares_router if service.takes_shares else ingest.elsewhere_router)
    app.include_router(ingest.router)
    app.include_router(ops.router)
    app.include_router(btccom.router)
    app.include_router(tangpool.router)
    app.include_router(dashboard.router)
    app.mount("/static", dashboard.static_files(), name="static")
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(tangpool.TangpoolError, tangpool.on_tangpool_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    docs.add_docs(app)
    app.add_middleware(CloseUnreadBodies)
    _add_components(app)
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods get BTC.COM's envelope (Tangpool's shape on its own path);
    other HTTP errors keep FastAPI's ``{"detail"}``."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    path = request.url.path
    if exc.status_code in (404, 405) and tangpool.owns(path):
        return tangpool.error_response(
            tangpool.TangpoolError(exc.status_code, "NOT_FOUND", f"no such endpoint: {path}")
        )
    if exc.status_code == 404:
        return envelope(None, NOT_FOUND, f"no such endpoint: {path}", status=404)
    if exc.status_code == 405:
        message = f"method {request.method} is not allowed on {path}"
        response = envelope(None, NOT_FOUND, message, status=405)
        response.headers.update(headers)
        return response
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """Only FastAPI-declared parameters get here."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = str(first.get("loc", ("", "parameters"))[-1])
    return envelope(None, PARAM_ERROR, f"{field}: {first.get('msg', 'invalid')}", status=422)


def _add_components(app: FastAPI) -> None:
    """The answers' JSON schemas (made by msgspec from the answer Structs) join FastAPI's."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(btccom.openapi_components())
            components.update(tangpool.openapi_components())
        return app.openapi_schema or schema

    app.openapi = openapi  # type: ignore[method-assign]
