"""What a worker list may ask for: the rules of a page of a sub-account's workers.

They are rules, not storage: every backend answers the same ``WorkerQuery`` (the store's
stats port), and the order keys are a whitelist so that a request never chooses SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass

from poolstats.domain.status import ACTIVE_S, INACTIVE_S, WorkerStatus

# What a worker list can be ordered by (each a workers column, but the reject fraction).
WORKER_ORDER_KEYS: tuple[str, ...] = (
    "worker_id",
    "worker_name",
    "accept_1m",
    "accept_5m",
    "accept_15m",
    "accept_1h",
    "accept_1d",
    "accept_count",
    "reject_fraction_15m",
    "last_share_time",
    "last_accept_time",  # the order of the statuses (ACTIVE last accepted most recently)
    "group_id",
    "last_share_ip",
)


@dataclass(frozen=True)
class WorkerQuery:
    """One page of a sub-account's worker list: filters, order and window.

    Deleted workers (group 0) are never listed or counted, whatever ``group_id`` says.
    ``group_id``: ``None`` every group, ``-1`` DEFAULT, else a gid. ``name_contains`` is a
    case-insensitive substring matched literally (``%`` and ``_`` are not wildcards). Ties of
    ``order_by`` are broken by worker_id in the same direction, so pages never overlap.
    """

    now: int
    status: WorkerStatus | None = None
    group_id: int | None = None
    name_contains: str = ""
    order_by: str = "worker_id"
    ascending: bool = False
    offset: int = 0
    limit: int = 10
    active_s: int = ACTIVE_S
    inactive_s: int = INACTIVE_S

    def __post_init__(self) -> None:
        if self.order_by not in WORKER_ORDER_KEYS:
            raise ValueError(
                f"cannot order workers by {self.order_by!r}; use one of {WORKER_ORDER_KEYS}"
            )
        if self.offset < 0 or self.limit < 0:
            raise ValueError("offset and limit must not be negative")
