"""What the engine hands the store at each flush: plain columnar values, no behaviour.

All ``accept_*``/``reject_*``/``stale_*`` figures are sums of share difficulty (not H/s): the
store keeps one unit and the API converts at the edge (H/s = diff_sum * 2**32 / window_s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from poolstats.domain.arrays import F64, I64
from poolstats.engine.work import NO_WORK, WorkRows


class Level(StrEnum):
    WORKER = "worker"
    SUBACCOUNT = "subaccount"
    POOL = "pool"


@dataclass(frozen=True)
class WindowSums:
    """Difficulty sums over the trailing windows, one entry per row."""

    accept_1m: F64
    accept_5m: F64
    accept_15m: F64
    accept_1h: F64
    accept_1d: F64
    reject_1m: F64
    reject_5m: F64
    reject_15m: F64
    stale_1m: F64
    stale_5m: F64
    stale_15m: F64


@dataclass(frozen=True)
class OpenBuckets:
    """One worker history period's open bucket (``start``, the same for every row) and its
    sums so far per worker row: absolute values, stored with the worker row. Its increments
    come in ``Flush.history`` once, in the flush after the bucket closes; until then the
    bucket's figures are the history rows for ``start`` (late or early shares) plus these."""

    period_s: int
    start: int  # unix seconds, a multiple of period_s
    accept: F64
    stale: F64
    reject: F64


@dataclass(frozen=True)
class WorkerRows:
    """Changed workers since the last flush (absolute values: writing them twice is harmless)."""

    puid: I64
    worker_id: I64
    worker_name: list[str]
    sums: WindowSums
    accept_count: I64  # accepted shares since the worker was first seen (lifetime)
    reject_count: I64  # rejected + stale shares, lifetime
    last_share_time: I64  # unix seconds of the newest share of any status
    last_accept_time: I64  # unix seconds of the newest accepted share, 0 if none
    last_share_ip: list[str]  # "" when the producer sent none
    open: tuple[OpenBuckets, ...] = ()  # one per worker history period
    # True where an earlier flush held the worker (its store row exists, unless that flush
    # failed: flushes are written in order); None: unknown. A hint: a backend may upsert all.
    stored: npt.NDArray[np.bool_] | None = None
    # True where the stored row's other figures already equal these (reject and stale
    # windows, reject_count, the open buckets' stale and reject sums, last_share_ip), as of
    # the flush before this one: only the accepted figures need writing. None: unknown.
    plain: npt.NDArray[np.bool_] | None = None
    # Facts of the worker rather than figures: unix seconds of the earliest share counted
    # (0: unknown) and the mining software's user agent of the newest share that named one
    # (of the newest batch that did; "": none seen). A store keeps the earliest first share
    # time it was given and the newest non-empty agent, so 0 and "" never overwrite what it
    # has. None: not given.
    first_share_time: I64 | None = None
    miner_agent: list[str] | None = None
    # True where those two may differ from the stored row's (a new agent, an earlier share,
    # or facts the engine had not sent yet): such rows are written whole, as rows not stored
    # are; the updates of the others leave both columns alone, so a flush does not send a
    # million unchanged agents. None: none of the stored rows has new facts.
    new_facts: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class SubaccountRows:
    """Every sub-account the engine tracks (absolute values)."""

    puid: I64
    sums: WindowSums
    workers_active: I64  # workers whose last accepted share is within the ACTIVE threshold
    last_share_time: I64


@dataclass(frozen=True)
class PoolRow:
    sums: WindowSums  # one row
    workers_active: int
    users_active: int  # sub-accounts with at least one ACTIVE worker


@dataclass(frozen=True)
class HistoryDelta:
    """Increments to closed-or-open UTC buckets of one (level, period); for workers, to
    closed buckets only (and early or late shares: see ``OpenBuckets``).

    Increments, not absolute values: the store adds them (``accept = accept + excluded.accept``)
    and records ``Flush.seq`` in the same transaction, so each journal batch lands exactly once.
    For ``Level.POOL`` the key columns are all zero; for ``Level.SUBACCOUNT`` ``worker_id`` is 0.
    """

    level: Level
    period_s: int
    puid: I64
    worker_id: I64
    start: I64  # bucket start, unix seconds, a multiple of period_s (UTC-aligned)
    accept: F64
    stale: F64
    reject: F64


@dataclass(frozen=True)
class Flush:
    now: int  # unix seconds the flush was taken at
    seq: int  # journal sequence of the newest batch whose history deltas are included
    workers: WorkerRows
    subaccounts: SubaccountRows
    pool: PoolRow
    history: list[HistoryDelta] = field(default_factory=list)
    work: WorkRows = NO_WORK  # increments, stored with ``seq`` like the history
