"""The one way from the event loop into a worker thread.

The store, the journal's fsync, judging a batch and the engine's flush block; run on the
event loop they would hold up every request and every other task. Every such call outside
the pure layers goes through :func:`in_thread` (a test holds the rest of the code to it), so
that there is one place that says how: anyio's worker threads, which also serve the API's
``read_slots`` limiter (``api/threads.py``) and copy the caller's context variables.

A task cancelled (``Task.cancel``) while its call runs stops waiting at once, as with
``asyncio.to_thread``; the call itself runs to its end in its thread (a thread cannot be
interrupted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

T = TypeVar("T")


async def in_thread(
    fn: Callable[..., T], *args: object, limiter: CapacityLimiter | None = None
) -> T:
    """``fn(*args)`` in a worker thread; with ``limiter``, at most its tokens of them at once
    (without: anyio's default, 40 threads shared by every caller)."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)
