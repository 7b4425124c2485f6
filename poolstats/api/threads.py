"""The API's way into a worker thread: ``poolstats.threads.in_thread`` under the app's
``read_slots`` limiter.

The store blocks (SQLite reads, a look-up of a key), and a blocking call on the event loop
holds up every other request, ingest included. A couple of threads keep both cores busy
while dozens would only fight over the GIL, so every read the API, the dashboard and the
Tangpool dialect make goes through :func:`read`. Ingest bodies (their own slots) and the
metrics scrape (its own lock) are CPU work of another kind and say so where they run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request

from poolstats.threads import in_thread

T = TypeVar("T")


async def read(request: Request, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a worker thread, at most ``api_threads`` of them at once."""
    return await in_thread(fn, *args, limiter=request.app.state.read_slots)
