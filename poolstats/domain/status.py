"""Worker status from the time of its last accepted share (BTC.COM's three states)."""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt

ACTIVE_S = 900
INACTIVE_S = 86400


class WorkerStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    DEAD = "DEAD"


def worker_status(
    last_accept_time: float, now: float, active_s: float = ACTIVE_S, inactive_s: float = INACTIVE_S
) -> WorkerStatus:
    """ACTIVE within ``active_s`` of the last accepted share, INACTIVE within ``inactive_s``,
    DEAD beyond (and for a worker that never had a share accepted: time 0)."""
    age = now - last_accept_time
    if last_accept_time > 0 and age <= active_s:
        return WorkerStatus.ACTIVE
    if last_accept_time > 0 and age <= inactive_s:
        return WorkerStatus.INACTIVE
    return WorkerStatus.DEAD


def status_counts(
    last_accept_time: npt.NDArray[np.float64] | npt.NDArray[np.int64],
    now: float,
    active_s: float = ACTIVE_S,
    inactive_s: float = INACTIVE_S,
) -> dict[WorkerStatus, int]:
    """How many workers are in each state (the same rule as ``worker_status``, vectorised)."""
    seen = last_accept_time > 0
    age = now - last_accept_time
    active = int((seen & (age <= active_s)).sum())
    inactive = int((seen & (age > active_s) & (age <= inactive_s)).sum())
    return {
        WorkerStatus.ACTIVE: active,
        WorkerStatus.INACTIVE: inactive,
        WorkerStatus.DEAD: len(last_accept_time) - active - inactive,
    }
