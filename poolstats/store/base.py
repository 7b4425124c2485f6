"""What every store backend offers (the rules of what it keeps are in ``domain/``).

The API, the engine's flusher and the CLI depend on :class:`Store`, never on a backend, so the
SQLite default and a PostgreSQL scale-out backend are interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from poolstats.domain.arrays import F64
from poolstats.domain.status import ACTIVE_S, INACTIVE_S, WorkerStatus
from poolstats.engine.snapshot import Flush, Level
from poolstats.store import schema


class UserExists(ValueError):
    """The account or sub-account name is already taken."""


class UnknownAccount(LookupError):
    """No account has this name."""


class GroupExists(ValueError):
    """The worker group name is already taken within the sub-account."""


# What ``worker_page`` can order by: a whitelist, so a request never chooses SQL text.
WORKER_ORDER_KEYS: tuple[str, ...] = (
    "worker_id",
    "worker_name",
    "accept_1m",
    "accept_5m",
    "accept_15m",
    "accept_1d",
    "accept_count",
    "reject_fraction_15m",
    "last_share_time",
)


@dataclass(frozen=True)
class NewUser:
    """What ``create_user`` hands back; ``access_key`` is shown once and never stored."""

    puid: int
    user_name: str
    access_key: str

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"NewUser(puid={self.puid}, user_name={self.user_name!r}, access_key='***')"


@dataclass(frozen=True)
class KeyGrant:
    """What a valid access key opens: its account's sub-accounts (no secret is held here)."""

    account_id: int
    puids: tuple[int, ...]  # ordered by puid; the first is the default sub-account
    read_only: bool


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


@dataclass(frozen=True)
class FlushWriter:
    """Who writes a flush: a single node (``partition`` None) or partition K's aggregator.

    It decides which stored sequence the flush moves (``schema.partition_seq_key``) and which
    pool row it writes (``schema.pool_row_id``). ``guard`` runs inside the flush's own
    transaction, last, just before the commit, and raises to refuse it: an aggregator's lease
    check, so that one that lost its lease unaware can never write after the next holder.
    Last, because the check locks the lease row until the commit: first, it would hold off
    the lease's own renewals for as long as a large flush takes.
    """

    partition: int | None = None
    guard: Callable[[sa.Connection], None] | None = None

    @property
    def seq_key(self) -> str:
        if self.partition is None:
            return schema.HISTORY_SEQ_KEY
        return schema.partition_seq_key(self.partition)

    @property
    def pool_row_id(self) -> int:
        return schema.pool_row_id(self.partition)


SINGLE_NODE = FlushWriter()


@dataclass(frozen=True)
class WorkerPage:
    """What ``worker_page`` answers: a page of rows and how many rows the filters match."""

    total_count: int  # rows matching the filters, before offset and limit
    rows: list[dict[str, Any]]  # workers table rows (every column), in the query's order


@runtime_checkable
class Transactions(Protocol):
    """A store's own write and read transactions, for the tables beyond ``Store`` (alerts,
    blocks) whose modules write SQL themselves."""

    def write(self) -> AbstractContextManager[sa.Connection]: ...

    def read(self) -> AbstractContextManager[sa.Connection]: ...


def transactions(store: Store, keeps: str) -> Transactions:
    """``store`` as ``Transactions``, or ``TypeError`` saying it does not keep ``keeps``."""
    if not isinstance(store, Transactions):
        raise TypeError(f"{type(store).__name__} does not keep {keeps}")
    return store


class Store(Protocol):
    """Persistence of accounts, realtime snapshots and history.

    Times are unix seconds; stats values are sums of share difficulty (see ``engine.snapshot``).
    Every method is safe to call from several threads.
    """

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    # accounts
    def create_user(self, name: str, now: int) -> NewUser:
        """One account, its sub-account of the same name and one read-write access key.

        Raises ``ValueError`` for an invalid name and ``UserExists`` for a taken one.
        """
        ...

    def revoke_key(self, access_key: str, now: int) -> bool:
        """Revoke a key; ``False`` if it was unknown or already revoked."""
        ...

    def subaccounts(self) -> dict[str, int]:
        """Every sub-account name -> puid (ingest maps stratum logins with it)."""
        ...

    def puid_of(self, name: str) -> int | None:
        """The puid of a sub-account name, or ``None``: ingest asks for names it has not seen."""
        ...

    def subaccount_exists(self, puid: int) -> bool:
        """Whether the puid is a sub-account: ingest checks puids it has not seen."""
        ...

    def create_subaccount(self, account_name: str, name: str, now: int) -> int:
        """A new sub-account of an existing account; returns its puid.

        The name follows ``create_user``'s rules and must be free among account and
        sub-account names. Raises ``ValueError``, ``UnknownAccount`` or ``UserExists``.
        """
        ...

    def create_key(self, account_name: str, read_only: bool, now: int) -> str:
        """A new access key of the account, returned once and stored hashed.

        Raises ``UnknownAccount``.
        """
        ...

    def key_grant(self, access_key: str) -> KeyGrant | None:
        """What the key opens; ``None`` for an unknown or revoked key."""
        ...

    def subaccount_profile(self, puid: int) -> dict[str, Any] | None:
        """puid, name, account_id, created_at, updated_at, the ``PROFILE_FIELDS`` and the
        ``PAYOUT_FIELDS``."""
        ...

    def update_subaccount_profile(self, puid: int, fields: Mapping[str, Any], now: int) -> bool:
        """Set some ``PROFILE_FIELDS`` or ``PAYOUT_FIELDS``, checked by
        ``validate_profile_fields`` (``ValueError`` names the field); ``False`` if no puid."""
        ...

    # worker groups (-1 DEFAULT and 0 deleted are implicit; real gids start at 1)
    def groups(self, puid: int) -> list[dict[str, Any]]:
        """The sub-account's groups (gid, puid, name, sort_id, created_at, updated_at) by
        (sort_id, gid)."""
        ...

    def group(self, puid: int, gid: int) -> dict[str, Any] | None:
        """One group, or ``None`` if the gid is not one of the sub-account's."""
        ...

    def create_group(self, puid: int, name: str, now: int) -> dict[str, Any]:
        """A new group (its row; sort_id = gid). ``GroupExists`` if the puid has the name."""
        ...

    def rename_group(self, puid: int, gid: int, name: str, now: int) -> bool:
        """``False`` if the gid is not the sub-account's; ``GroupExists`` for a taken name."""
        ...

    def delete_group(self, puid: int, gid: int, now: int) -> bool:
        """Move the group's workers to DEFAULT and delete it, atomically; ``False`` if the gid
        is not the sub-account's."""
        ...

    def move_workers(self, puid: int, worker_ids: Sequence[int], group_id: int, now: int) -> bool:
        """Put workers in a group (-1 DEFAULT, 0 deleted, or a gid of the puid), all or none.

        ``False``, with nothing changed, if a worker or the group is not the sub-account's.
        """
        ...

    # network history (difficulty and block reward over time, for earnings)
    def record_network(
        self, at: int, difficulty: str, height: int, fees_per_block_sat: int, source: str, now: int
    ) -> bool:
        """Record the values in force from ``at`` (replacing an entry at the same ``at``).

        ``difficulty`` is a decimal string, stored normalised (``normalise_difficulty``);
        ``source`` is one of ``NETWORK_SOURCES``. ``False`` if the very same values are
        already recorded at ``at``, ``True`` when written; ``ValueError`` names a bad field.
        """
        ...

    def network_at(self, ts: int) -> dict[str, Any] | None:
        """The entry in force at ``ts`` (the newest with ``at <= ts``), or ``None``."""
        ...

    def network_history(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The entries in force during ``[start, stop)``, by ``at``: the one in force at
        ``start`` and every one with ``start < at < stop``."""
        ...

    # stats
    def write_flush(self, flush: Flush, writer: FlushWriter = SINGLE_NODE) -> None:
        """Apply one engine flush atomically (snapshots, history increments, and the writer's
        stored sequence), checked by ``writer.guard`` before it commits; the workers' open
        buckets (``WorkerRows.open``) go with their worker rows."""

    def open_buckets(
        self, period_s: int, partition: tuple[int, int] | None = None
    ) -> tuple[int, list[int], list[str], F64]:
        """The workers' newest open bucket of ``period_s`` as the last flush wrote it: (start,
        puids, worker names, sums (3, n): accept, reject, stale); for ``Engine.load_open``.
        ``partition`` (K, N): only partition K's sub-accounts."""
        ...

    def history_seq(self, key: str = schema.HISTORY_SEQ_KEY) -> int:
        """Sequence (journal, or bus for ``schema.partition_seq_key``) of the newest batch
        whose history is stored; 0 if none."""
        ...

    def prune(self, now: int, retention_s: dict[tuple[Level, int], int | None]) -> int:
        """Delete history buckets older than their retention (``None`` keeps them); rows gone."""
        ...

    def worker(self, puid: int, worker_id: int) -> dict[str, Any] | None:
        """One worker's snapshot row."""
        ...

    def workers(self, puid: int) -> list[dict[str, Any]]:
        """Every worker row of a sub-account, by worker_id."""
        ...

    def top_workers(self, puid: int, limit: int = 50) -> list[dict[str, Any]]:
        """The sub-account's busiest workers (15-minute accepts) first, deleted ones left out."""
        ...

    def worker_page(self, puid: int, query: WorkerQuery) -> WorkerPage:
        """One page of the sub-account's workers and how many match (see ``WorkerQuery``)."""
        ...

    def worker_counts(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> dict[WorkerStatus, int]:
        """Workers per status (``domain.status.worker_status``), deleted ones left out."""
        ...

    def group_stats(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> list[dict[str, Any]]:
        """Per group_id with non-deleted workers, by group_id: ``workers_active``,
        ``workers_inactive``, ``workers_dead``, ``workers_total`` and the sum of every window."""
        ...

    def subaccount_stats(self, puid: int) -> dict[str, Any] | None:
        """A sub-account's snapshot row."""
        ...

    def pool_stats(self) -> dict[str, Any] | None:
        """The pool's snapshot row."""
        ...

    def history(
        self,
        level: Level,
        period_s: int,
        puid: int = 0,
        worker_id: int = 0,
        start_from: int = 0,
        start_to: int = 2**62,
    ) -> list[dict[str, Any]]:
        """History buckets with ``start_from <= start < start_to``, ordered by start.

        ``worker_id=0`` at the worker level means every worker of ``puid``. Workers' open
        buckets are included (their sums so far, as of the last flush).
        """
        ...
