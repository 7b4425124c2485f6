"""``Retry-After``, read one way for every client that posts to a node (the simulator's
sender and the stratum process's ingest)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
