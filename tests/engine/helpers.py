"""Building share batches for the engine by hand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from poolstats.domain.share import Status, quantize_diff
from poolstats.engine.engine import Engine, ShareBatch

DAY = 86400
T0 = 19675 * DAY  # 2023-11-14 00:00:00 UTC: aligned to every bucket period


def batch(
    engine: Engine,
    shares: Sequence[tuple[int, str, float, float, Status]],
    ips: Sequence[str | None] | None = None,
    agents: Sequence[str | None] | None = None,
) -> ShareBatch:
    """shares: (puid, worker, ts, diff, status); ``ips`` and ``agents`` per share."""
    rows = engine.worker_rows([s[0] for s in shares], [s[1] for s in shares])
    if ips is None:
        ip = np.full(len(shares), -1, np.int64)
    else:
        known = [x for x in ips if x is not None]
        codes = dict(zip(known, engine.ip_codes(known).tolist(), strict=True))
        ip = np.array([codes[x] if x is not None else -1 for x in ips], np.int64)
    agent = None
    if agents is not None:
        named = [x for x in agents if x is not None]
        agent_codes = dict(zip(named, engine.agent_codes(named).tolist(), strict=True))
        agent = np.array([agent_codes[x] if x is not None else -1 for x in agents], np.int64)
    return ShareBatch(
        agent=agent,
        rows=rows,
        ts=np.array([s[2] for s in shares], np.float64),
        diff=quantize_diff(np.array([s[3] for s in shares], np.float64)),
        status=np.array([int(s[4]) for s in shares], np.uint8),
        ip=ip,
    )


def steady(
    puid: int, worker: str, start: float, count: int, every: float, diff: float
) -> list[tuple[int, str, float, float, Status]]:
    """``count`` accepted shares of ``diff``, one every ``every`` seconds from ``start``."""
    return [(puid, worker, start + i * every, diff, Status.ACCEPT) for i in range(count)]
