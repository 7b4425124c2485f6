"""The app factory: one FastAPI app around one ``Service``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI

from poolstats import __version__
from poolstats.api import ingest, ops
from poolstats.service import Service
from poolstats.web import dashboard


def create_app(service: Service, run_timers: bool = True) -> FastAPI:
    """The service must be recovered already; the app runs its timers while it serves and
    flushes and checkpoints on a clean shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timers = asyncio.create_task(service.run_timers()) if run_timers else None
        try:
            yield
        finally:
            if timers is not None:
                timers.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timers
            await asyncio.to_thread(service.close)

    app = FastAPI(title="poolstats", version=__version__, lifespan=lifespan)
    app.state.service = service
    app.state.ingest_slots = anyio.Semaphore(ingest.INGEST_SLOTS)
    app.include_router(ingest.router)
    app.include_router(ops.router)
    app.include_router(dashboard.router)
    return app
