"""Helpers of the bus contract tests: collect what a subscription hands out."""

from __future__ import annotations

import time

from poolstats.bus import Delivery, Subscription


async def fetch_n(sub: Subscription, n: int, timeout_s: float = 20.0) -> list[Delivery]:
    """Exactly the next ``n`` deliveries (fails if they do not come within ``timeout_s``),
    then one more short fetch that must come back empty: no more than ``n`` were there."""
    deadline = time.monotonic() + timeout_s
    got: list[Delivery] = []
    while len(got) < n:
        assert time.monotonic() < deadline, f"only {len(got)} of {n} deliveries came"
        got += await sub.fetch(n - len(got), 1.0)
    assert len(got) == n
    assert await sub.fetch(10, 0.2) == []
    return got
