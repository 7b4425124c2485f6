"""What the SQL backends share: every ``Store`` method whose SQL is the same on SQLite and
PostgreSQL (SQLAlchemy Core, compiled per dialect).

A backend subclasses :class:`SqlStore` and supplies only what differs: how connections and
transactions are made (``write``/``read``), the bulk ``write_flush``, ``prune`` and the history
lookup by enumerated bucket starts (``_history_by_bucket``). ``history`` adds the workers'
open buckets from their rows (migration 0012) on both. Each backend's ``write`` admits
one writer at a time (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory transaction lock),
so the read-then-write methods here (``record_network``, ``move_workers``, name checks) are
correct on both without retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from poolstats.domain.access_keys import hash_access_key, key_hash_matches, new_access_key
from poolstats.domain.accounts import (
    PAYOUT_FIELDS,
    PROFILE_FIELDS,
    validate_profile_fields,
    validate_user_name,
)
from poolstats.domain.arrays import F64
from poolstats.domain.network_entry import validate_network
from poolstats.domain.partitions import partition_of
from poolstats.domain.status import ACTIVE_S, INACTIVE_S, WorkerStatus
from poolstats.engine.snapshot import Flush, Level
from poolstats.store import schema
from poolstats.store.base import (
    SINGLE_NODE,
    WORKER_ORDER_KEYS,
    FlushWriter,
    GroupExists,
    KeyGrant,
    NewUser,
    UnknownAccount,
    UserExists,
    WorkerPage,
    WorkerQuery,
)

log = logging.getLogger(__name__)

_INT64 = range(-(2**63), 2**63)
_IDS_PER_STATEMENT = 10_000  # bound parameters per statement stay far below SQLite's limit

# Worker lists read a sub-account's rows by the primary key (``puid`` first: contiguous, the
# table is clustered by it on SQLite); the workers table has no other index since migration
# 0012 (see ``schema``). "+ 0" keeps SQLite from ever choosing an index an older database
# might still have for these terms.
_w = schema.workers
_NOT_DELETED_BY_SCAN = (_w.c.group_id + 0) != schema.GROUP_DELETED
_REJECTED_15M = _w.c.reject_15m + _w.c.stale_15m
_SHARES_15M = _w.c.accept_15m + _w.c.reject_15m + _w.c.stale_15m
_REJECT_FRACTION_15M = sa.case((_SHARES_15M > 0, _REJECTED_15M / _SHARES_15M), else_=0.0)
# Every order key is a column but one; a key that is neither fails here, at import.
_ORDER: dict[str, sa.ColumnElement[Any]] = {
    key: _REJECT_FRACTION_15M if key == "reject_fraction_15m" else _w.c[key]
    for key in WORKER_ORDER_KEYS
}


def _status_bounds(now: int, active_s: int, inactive_s: int) -> tuple[int, int]:
    """(lowest ACTIVE, lowest INACTIVE) last_accept_time: each status is then one range.

    ``domain.status.worker_status`` in integers: ACTIVE is ``0 < t`` and ``now - t <=
    active_s``, i.e. ``t >= max(1, now - active_s)``; INACTIVE is below that and ``t >=
    max(1, now - inactive_s)``; DEAD is the rest, never-accepted (0) included.
    """
    active_lo = max(1, now - active_s)
    return active_lo, min(max(1, now - inactive_s), active_lo)


def _status_terms(
    status: WorkerStatus, bounds: tuple[int, int], last_accept: sa.ColumnElement[int]
) -> list[sa.ColumnElement[bool]]:
    active_lo, inactive_lo = bounds
    if status is WorkerStatus.ACTIVE:
        return [last_accept >= active_lo]
    if status is WorkerStatus.INACTIVE:
        return [last_accept >= inactive_lo, last_accept < active_lo]
    return [last_accept < inactive_lo]


def _worker_filters(puid: int, q: WorkerQuery, dialect: str) -> list[sa.ColumnElement[bool]]:
    """The WHERE terms of a worker list."""
    last_accept = _w.c.last_accept_time + 0
    terms = [_w.c.puid == puid, _NOT_DELETED_BY_SCAN]
    if q.group_id is not None:
        terms.append(_w.c.group_id == q.group_id)
    if q.status is not None:
        bounds = _status_bounds(q.now, q.active_s, q.inactive_s)
        terms += _status_terms(WorkerStatus(q.status), bounds, last_accept)
    if q.name_contains:
        if dialect == "sqlite":
            # SQLite's LIKE ignores ASCII case (case_sensitive_like is never set): no lower()
            terms.append(_w.c.worker_name.contains(q.name_contains, autoescape=True))
        else:  # PostgreSQL's LIKE is case-sensitive; ILIKE is not
            terms.append(_w.c.worker_name.icontains(q.name_contains, autoescape=True))
    return terms


def worker_page_statements(
    puid: int, q: WorkerQuery, dialect: str = "sqlite"
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """(count, rows) statements of ``SqlStore.worker_page`` (and of SQLite's pages with a
    name filter); public so tests can EXPLAIN them.

    Rows are found in two steps: the page's keys, then those rows by primary key. The first
    step reads the sub-account's rows once (a range of the primary key) and sorts only
    (puid, worker_id, sort key); the second reads the page's rows, not the skipped ones.
    """
    if q.order_by not in _ORDER:
        raise ValueError(f"cannot order workers by {q.order_by!r}")
    count = sa.select(sa.func.count()).select_from(_w).where(*_worker_filters(puid, q, dialect))
    key = _ORDER[q.order_by].label("sort_key")

    def direction(col: sa.ColumnElement[Any]) -> sa.UnaryExpression[Any]:
        return col.asc() if q.ascending else col.desc()

    keys = (
        sa.select(_w.c.puid, _w.c.worker_id, key)
        .where(*_worker_filters(puid, q, dialect))
        .order_by(direction(key), direction(_w.c.worker_id))
        .offset(q.offset)
        .limit(q.limit)
        .subquery("page")
    )
    rows = (
        sa.select(_w)
        .join(keys, sa.and_(_w.c.puid == keys.c.puid, _w.c.worker_id == keys.c.worker_id))
        .order_by(direction(keys.c.sort_key), direction(keys.c.worker_id))
    )
    return count, rows


def worker_counts_one_pass(
    puid: int, now: int, active_s: int, inactive_s: int
) -> sa.Select[int, int, int]:
    """(ACTIVE, INACTIVE, DEAD) of ``SqlStore.worker_counts`` in one pass over the sub-account's
    rows (the primary key's ``puid`` range, read once)."""
    active_lo, inactive_lo = _status_bounds(now, active_s, inactive_s)
    lat = _w.c.last_accept_time

    def number(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count(sa.case((cond, 1)))

    return sa.select(
        number(lat >= active_lo),
        number(sa.and_(lat >= inactive_lo, lat < active_lo)),
        number(lat < inactive_lo),
    ).where(_w.c.puid == puid, _NOT_DELETED_BY_SCAN)


class SqlStore:
    """The backend-neutral part of a :class:`~poolstats.store.base.Store`; see the module
    docstring. Subclasses set ``dialect`` and implement the methods raising
    ``NotImplementedError``."""

    dialect = ""  # SQLAlchemy dialect name: "sqlite" or "postgresql"

    # --- what a backend supplies ------------------------------------------------------------

    def close(self) -> None:
        raise NotImplementedError

    def write(self, workers_changed: bool = False) -> AbstractContextManager[sa.Connection]:
        """One write transaction, one writer at a time; commits unless the block raises.
        ``workers_changed``: it changes worker rows (a backend keeping worker lists drops them
        once committed)."""
        raise NotImplementedError

    def lease_write(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction for the ``leases`` table only (``store.leases``): a backend
        whose ``write`` waits for every other writer gives leases one that does not, so a
        renewal never waits out a long flush or settlement; SQLite's single writer is it."""
        return self.write()

    def read(self) -> AbstractContextManager[sa.Connection]:
        """A read transaction: one consistent snapshot for all its statements."""
        raise NotImplementedError

    def write_flush(self, flush: Flush, writer: FlushWriter = SINGLE_NODE) -> None:
        raise NotImplementedError

    def prune(self, now: int, retention_s: dict[tuple[Level, int], int | None]) -> int:
        raise NotImplementedError

    def _history_by_bucket(self, level: Level, one_worker: bool) -> sa.TextClause:
        """History rows of a level for bucket starts ``first, first + period_s, .. < stop``
        with params first, stop, period_s, puid (and worker_id when ``one_worker``), ordered
        by (start, puid[, worker_id]), each start one primary-key lookup."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- accounts ---------------------------------------------------------------------------

    def create_user(self, name: str, now: int) -> NewUser:
        """One account + one sub-account named ``name`` + one read-write key (returned once)."""
        validate_user_name(name)
        access_key = new_access_key()
        acc, sub = schema.accounts, schema.subaccounts
        try:
            with self.write() as conn:
                self._check_name_free(conn, name)
                account_id = conn.execute(
                    sa.insert(acc).values(name=name, created_at=now).returning(acc.c.id)
                ).scalar_one()
                puid = conn.execute(
                    sa.insert(sub)
                    .values(account_id=account_id, name=name, created_at=now)
                    .returning(sub.c.puid)
                ).scalar_one()
                self._insert_key(conn, account_id, access_key, False, now)
        except IntegrityError as exc:  # only if another writer bypassed the check above
            raise UserExists(f"user name {name!r} is already taken") from exc
        log.info("created user %s (puid %d)", name, puid)
        return NewUser(puid=puid, user_name=name, access_key=access_key)

    def revoke_key(self, access_key: str, now: int) -> bool:
        """Mark a key revoked; it opens nothing afterwards. ``False`` if unknown or revoked."""
        keys = schema.access_keys
        with self.write() as conn:
            result = conn.execute(
                sa.update(keys)
                .where(keys.c.key_hash == hash_access_key(access_key))
                .where(keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(result.rowcount)

    def subaccounts(self) -> dict[str, int]:
        """Every sub-account name -> puid."""
        sub = schema.subaccounts
        with self.read() as conn:
            rows = conn.execute(sa.select(sub.c.name, sub.c.puid).order_by(sub.c.puid))
            return {name: puid for name, puid in rows}

    def puid_of(self, name: str) -> int | None:
        """The puid of a sub-account name, or ``None`` (one indexed lookup)."""
        sub = schema.subaccounts
        with self.read() as conn:
            puid = conn.execute(sa.select(sub.c.puid).where(sub.c.name == name)).scalar()
        return None if puid is None else int(puid)

    def subaccount_exists(self, puid: int) -> bool:
        """Whether a sub-account with this puid exists (one primary-key lookup)."""
        sub = schema.subaccounts
        with self.read() as conn:
            found = conn.execute(sa.select(sub.c.puid).where(sub.c.puid == puid)).scalar()
        return found is not None

    def create_subaccount(self, account_name: str, name: str, now: int) -> int:
        """A sub-account under an existing account; the name rules are ``create_user``'s."""
        validate_user_name(name)
        sub = schema.subaccounts
        try:
            with self.write() as conn:
                account_id = self._account_id(conn, account_name)
                self._check_name_free(conn, name)
                puid = conn.execute(
                    sa.insert(sub)
                    .values(account_id=account_id, name=name, created_at=now)
                    .returning(sub.c.puid)
                ).scalar_one()
        except IntegrityError as exc:  # only if another writer bypassed the check above
            raise UserExists(f"user name {name!r} is already taken") from exc
        log.info("created sub-account %s (puid %d) of account %s", name, puid, account_name)
        return int(puid)

    @staticmethod
    def _insert_key(
        conn: sa.Connection, account_id: int, access_key: str, read_only: bool, now: int
    ) -> None:
        """Only the key's hash is stored (see ``hash_access_key``)."""
        conn.execute(
            sa.insert(schema.access_keys).values(
                account_id=account_id,
                key_hash=hash_access_key(access_key),
                read_only=read_only,
                created_at=now,
            )
        )

    @staticmethod
    def _account_id(conn: sa.Connection, account_name: str) -> int:
        acc = schema.accounts
        account_id = conn.execute(sa.select(acc.c.id).where(acc.c.name == account_name)).scalar()
        if account_id is None:
            raise UnknownAccount(f"no account is named {account_name!r}")
        return int(account_id)

    @staticmethod
    def _check_name_free(conn: sa.Connection, name: str) -> None:
        """Account and sub-account names share one namespace: stratum logins use either."""
        acc, sub = schema.accounts, schema.subaccounts
        taken = conn.execute(
            sa.select(acc.c.id)
            .where(acc.c.name == name)
            .union_all(sa.select(sub.c.puid).where(sub.c.name == name))
        ).first()
        if taken is not None:
            raise UserExists(f"user name {name!r} is already taken")

    def create_key(self, account_name: str, read_only: bool, now: int) -> str:
        """Another access key of the account, stored as its SHA-256 and returned this once."""
        access_key = new_access_key()
        with self.write() as conn:
            account_id = self._account_id(conn, account_name)
            self._insert_key(conn, account_id, access_key, read_only, now)
        log.info(
            "created a %s key of account %s",
            "read-only" if read_only else "read-write",
            account_name,
        )
        return access_key

    def key_grant(self, access_key: str) -> KeyGrant | None:
        """The key's account, its puids in order and whether it may only read; ``None`` for an
        unknown or revoked key. The stored hash is compared in constant time."""
        keys, sub = schema.access_keys, schema.subaccounts
        with self.read() as conn:
            key = conn.execute(
                sa.select(keys.c.key_hash, keys.c.account_id, keys.c.read_only)
                .where(keys.c.key_hash == hash_access_key(access_key))
                .where(keys.c.revoked_at.is_(None))
            ).first()
            if key is None or not key_hash_matches(key.key_hash, access_key):
                return None
            puids = conn.execute(
                sa.select(sub.c.puid).where(sub.c.account_id == key.account_id).order_by(sub.c.puid)
            ).scalars()
            return KeyGrant(
                account_id=int(key.account_id),
                puids=tuple(int(p) for p in puids),
                read_only=bool(key.read_only),
            )

    def subaccount_profile(self, puid: int) -> dict[str, Any] | None:
        """puid, name, account_id, created_at, updated_at, the profile text fields and the
        payout settings."""
        sub = schema.subaccounts
        cols = (
            "puid", "name", "account_id", "created_at", "updated_at",
            *PROFILE_FIELDS, *PAYOUT_FIELDS,
        )  # fmt: skip
        return self._one(sa.select(*(sub.c[c] for c in cols)).where(sub.c.puid == puid))

    def update_subaccount_profile(self, puid: int, fields: Mapping[str, Any], now: int) -> bool:
        """Set the given fields, as ``validate_profile_fields`` checks and normalises them,
        and ``updated_at``; ``False`` if the puid is unknown."""
        values = validate_profile_fields(fields)
        sub = schema.subaccounts
        with self.write() as conn:
            result = conn.execute(
                sa.update(sub).where(sub.c.puid == puid).values(**values, updated_at=now)
            )
        return bool(result.rowcount)

    # --- worker groups ----------------------------------------------------------------------

    def groups(self, puid: int) -> list[dict[str, Any]]:
        """The sub-account's own groups by (sort_id, gid); DEFAULT (-1) is not stored."""
        g = schema.worker_groups
        return self._all(sa.select(g).where(g.c.puid == puid).order_by(g.c.sort_id, g.c.gid))

    def group(self, puid: int, gid: int) -> dict[str, Any] | None:
        """One group of the sub-account; ``None`` for another puid's gid too."""
        g = schema.worker_groups
        return self._one(sa.select(g).where(g.c.gid == gid, g.c.puid == puid))

    @staticmethod
    def _is_group_of(conn: sa.Connection, puid: int, gid: int) -> bool:
        g = schema.worker_groups
        found = conn.execute(sa.select(g.c.gid).where(g.c.gid == gid, g.c.puid == puid)).first()
        return found is not None

    @staticmethod
    def _check_group_name_free(conn: sa.Connection, puid: int, name: str, gid: int = 0) -> None:
        """``GroupExists`` if another group of the puid (not ``gid``; 0 is none) has the name."""
        g = schema.worker_groups
        taken = conn.execute(
            sa.select(g.c.gid).where(g.c.puid == puid, g.c.name == name, g.c.gid != gid)
        ).first()
        if taken is not None:
            raise GroupExists(f"group name {name!r} is already taken")

    def create_group(self, puid: int, name: str, now: int) -> dict[str, Any]:
        """A new group, sorted after the existing ones (sort_id = gid); its row."""
        g = schema.worker_groups
        try:
            with self.write() as conn:
                self._check_group_name_free(conn, puid, name)
                gid = conn.execute(
                    sa.insert(g)
                    .values(puid=puid, name=name, created_at=now, updated_at=now)
                    .returning(g.c.gid)
                ).scalar_one()
                row = conn.execute(
                    sa.update(g).where(g.c.gid == gid).values(sort_id=gid).returning(*g.c)
                ).one()
        except IntegrityError as exc:  # only if another writer bypassed the check above
            raise GroupExists(f"group name {name!r} is already taken") from exc
        return dict(row._mapping)

    def rename_group(self, puid: int, gid: int, name: str, now: int) -> bool:
        """Rename one of the sub-account's groups; ``False`` if the gid is not one."""
        g = schema.worker_groups
        try:
            with self.write() as conn:
                self._check_group_name_free(conn, puid, name, gid)
                result = conn.execute(
                    sa.update(g)
                    .where(g.c.gid == gid, g.c.puid == puid)
                    .values(name=name, updated_at=now)
                )
        except IntegrityError as exc:
            raise GroupExists(f"group name {name!r} is already taken") from exc
        return bool(result.rowcount)

    def delete_group(self, puid: int, gid: int, now: int) -> bool:
        """Its workers back to DEFAULT, then the group row, in one transaction (``now`` is
        unused: nothing keeps the time of a deletion)."""
        g = schema.worker_groups
        with self.write(workers_changed=True) as conn:
            if not self._is_group_of(conn, puid, gid):
                return False
            conn.execute(
                sa.update(_w)
                .where(_w.c.puid == puid, _w.c.group_id == gid)
                .values(group_id=schema.GROUP_DEFAULT)
            )
            conn.execute(sa.delete(g).where(g.c.gid == gid))
        return True

    def move_workers(self, puid: int, worker_ids: Sequence[int], group_id: int, now: int) -> bool:
        """Set the workers' group_id, all or nothing; ``False`` if one of them or the group is
        not the sub-account's (a deleted worker is nobody's until it submits a share again).
        ``now`` is unused: a worker row's times are the engine's."""
        ids = sorted(set(worker_ids))
        if group_id not in _INT64 or any(i not in _INT64 for i in ids):
            return False  # no worker or group has such an id (and SQLite could not bind it)
        chunks = [ids[i : i + _IDS_PER_STATEMENT] for i in range(0, len(ids), _IDS_PER_STATEMENT)]
        with self.write(workers_changed=True) as conn:
            implicit = group_id in (schema.GROUP_DEFAULT, schema.GROUP_DELETED)
            if not implicit and not self._is_group_of(conn, puid, group_id):
                return False
            known = sum(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(_w)
                    # deleted workers are gone until they mine again: not the caller's to move
                    .where(_w.c.puid == puid, _w.c.worker_id.in_(chunk), _NOT_DELETED_BY_SCAN)
                ).scalar_one()
                for chunk in chunks
            )
            if known != len(ids):
                return False
            for chunk in chunks:
                conn.execute(
                    sa.update(_w)
                    .where(_w.c.puid == puid, _w.c.worker_id.in_(chunk))
                    .values(group_id=group_id)
                )
        return True

    # --- stats ------------------------------------------------------------------------------

    def history_seq(self, key: str = schema.HISTORY_SEQ_KEY) -> int:
        """The newest sequence whose history deltas are stored under ``key`` (the journal's, or
        partition K's on the bus: ``schema.partition_seq_key``); 0 before any flush."""
        with self.read() as conn:
            value = conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == key)
            ).scalar_one_or_none()
        return int(value) if value is not None else 0

    def data_id(self) -> str:
        """The database's identity (``schema.DATA_ID_KEY``), the same in its backups."""
        with self.read() as conn:
            value = conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == schema.DATA_ID_KEY)
            ).scalar_one()
        return str(value)

    # --- network history --------------------------------------------------------------------

    def record_network(
        self, at: int, difficulty: str, height: int, fees_per_block_sat: int, source: str, now: int
    ) -> bool:
        """Upsert the entry at ``at``; read and write in one ``BEGIN IMMEDIATE`` transaction, so
        two recorders cannot both see "absent" and both write."""
        normal = validate_network(difficulty, height, fees_per_block_sat, source)
        n = schema.network_history
        values = {
            "difficulty": normal,
            "height": height,
            "fees_per_block_sat": fees_per_block_sat,
            "source": source,
        }
        with self.write() as conn:
            row = conn.execute(
                sa.select(n.c.difficulty, n.c.height, n.c.fees_per_block_sat, n.c.source).where(
                    n.c.at == at
                )
            ).first()
            if row is not None and dict(row._mapping) == values:
                return False
            if row is None:
                conn.execute(sa.insert(n).values(at=at, recorded_at=now, **values))
            else:
                conn.execute(sa.update(n).where(n.c.at == at).values(recorded_at=now, **values))
        return True

    def network_at(self, ts: int) -> dict[str, Any] | None:
        """The newest entry with ``at <= ts``: one primary-key seek backwards."""
        n = schema.network_history
        return self._one(sa.select(n).where(n.c.at <= ts).order_by(n.c.at.desc()).limit(1))

    def network_history(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The entry in force at ``start`` and those with ``start < at < stop``, by ``at``; both
        read in one transaction so a concurrent record cannot make them disagree."""
        n = schema.network_history
        with self.read() as conn:
            first = conn.execute(
                sa.select(n).where(n.c.at <= start).order_by(n.c.at.desc()).limit(1)
            ).first()
            rest = conn.execute(
                sa.select(n).where(n.c.at > start, n.c.at < stop).order_by(n.c.at)
            ).all()
        rows = ([first] if first is not None and start < stop else []) + list(rest)
        return [dict(r._mapping) for r in rows]

    # --- reads ------------------------------------------------------------------------------

    def _one(self, stmt: sa.Select[*tuple[Any, ...]]) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else dict(row._mapping)

    def _all(self, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def worker(self, puid: int, worker_id: int) -> dict[str, Any] | None:
        """One worker row (all columns), or ``None``."""
        w = schema.workers
        return self._one(sa.select(w).where(w.c.puid == puid, w.c.worker_id == worker_id))

    def workers(self, puid: int) -> list[dict[str, Any]]:
        """All worker rows of a sub-account, ordered by worker_id."""
        w = schema.workers
        return self._all(sa.select(w).where(w.c.puid == puid).order_by(w.c.worker_id))

    def subaccount_stats(self, puid: int) -> dict[str, Any] | None:
        """A sub-account's snapshot row, or ``None`` before its first flush."""
        s = schema.subaccount_stats
        return self._one(sa.select(s).where(s.c.puid == puid))

    def top_workers(self, puid: int, limit: int = 50) -> list[dict[str, Any]]:
        """A sub-account's worker rows, busiest (15-minute accepts) first, deleted ones left out
        (``worker_page``'s first page, without its count)."""
        query = WorkerQuery(now=0, order_by="accept_15m", limit=limit)
        return self._all(worker_page_statements(puid, query, self.dialect)[1])

    def worker_page(self, puid: int, query: WorkerQuery) -> WorkerPage:
        """A page of workers and the number matching, both read in one transaction
        (``worker_page_statements`` says how). No list is kept between calls: other
        processes write worker rows too, and this object would not see their commits."""
        count, rows = worker_page_statements(puid, query, self.dialect)
        with self.read() as conn:
            total = int(conn.execute(count).scalar_one())
            page = [dict(r._mapping) for r in conn.execute(rows)] if query.limit else []
        return WorkerPage(total_count=total, rows=page)

    def worker_counts(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> dict[WorkerStatus, int]:
        """Workers per status, deleted ones left out: one pass over the sub-account's rows
        (``worker_counts_one_pass``)."""
        stmt = worker_counts_one_pass(puid, now, active_s, inactive_s)
        with self.read() as conn:
            active, inactive, dead = conn.execute(stmt).one()
        return {
            WorkerStatus.ACTIVE: int(active),
            WorkerStatus.INACTIVE: int(inactive),
            WorkerStatus.DEAD: int(dead),
        }

    def group_stats(
        self, puid: int, now: int, active_s: int = ACTIVE_S, inactive_s: int = INACTIVE_S
    ) -> list[dict[str, Any]]:
        """Per group_id with non-deleted workers (DEFAULT -1 included), by group_id: workers
        per status and in all, and the sum of every window column."""
        active_lo, inactive_lo = _status_bounds(now, active_s, inactive_s)
        lat = _w.c.last_accept_time

        def number(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
            return sa.func.count(sa.case((cond, 1)))

        query = (
            sa.select(
                _w.c.group_id,
                number(lat >= active_lo).label("workers_active"),
                number(sa.and_(lat >= inactive_lo, lat < active_lo)).label("workers_inactive"),
                number(lat < inactive_lo).label("workers_dead"),
                sa.func.count().label("workers_total"),
                *(sa.func.sum(_w.c[c]).label(c) for c in schema.WINDOW_COLUMNS),
            )
            # Every column of every row is needed: read the clustered rows, not an index.
            .where(_w.c.puid == puid, _NOT_DELETED_BY_SCAN)
            .group_by(_w.c.group_id)
            .order_by(_w.c.group_id)
        )
        return self._all(query)

    def pool_stats(self) -> dict[str, Any] | None:
        """The pool's snapshot, or ``None`` before the first flush: the sum of every writer's
        row (one for a single node; one per partition in a cluster, whose sub-accounts, and so
        workers and users, are disjoint), ``updated_at`` the oldest of them."""
        p = schema.pool_stats
        columns: list[sa.ColumnElement[Any]] = [
            sa.literal(1).label("id"),
            *(sa.func.sum(p.c[c]).label(c) for c in schema.WINDOW_COLUMNS),
            sa.func.sum(p.c.workers_active).label("workers_active"),
            sa.func.sum(p.c.users_active).label("users_active"),
            sa.func.min(p.c.updated_at).label("updated_at"),
            sa.func.count().label("rows"),
        ]
        stmt = sa.select(*columns)
        row = self._one(stmt)
        if row is None or not row.pop("rows"):
            return None
        return {k: int(v) if k in ("workers_active", "users_active", "updated_at") else v
                for k, v in row.items()}  # fmt: skip

    def history(
        self,
        level: Level,
        period_s: int,
        puid: int = 0,
        worker_id: int = 0,
        start_from: int = 0,
        start_to: int = 2**62,
    ) -> list[dict[str, Any]]:
        """Buckets with ``start_from <= start < start_to`` ordered by start; the row's columns.

        ``puid`` is ignored for the pool level and ``worker_id`` for all but the worker level;
        at the worker level ``worker_id=0`` (never a real id) returns every worker of ``puid``,
        ordered by (start, worker_id). A worker's open buckets (hour, day) are included: the
        sums so far of its worker row, as of the last flush.

        History is keyed bucket-first (see ``schema``), so a range on ``start`` would scan
        every worker's rows: instead the bucket starts in range (multiples of ``period_s``,
        clamped to the stored ones) are enumerated and each is one primary-key lookup.
        """
        rows = self._stored_history(level, period_s, puid, worker_id, start_from, start_to)
        if level is Level.WORKER and period_s in schema.OPEN_BUCKET_COLUMNS:
            rows = self._with_open_buckets(rows, period_s, puid, worker_id, start_from, start_to)
        return rows

    def _with_open_buckets(
        self,
        rows: list[dict[str, Any]],
        period_s: int,
        puid: int,
        worker_id: int,
        start_from: int,
        start_to: int,
    ) -> list[dict[str, Any]]:
        """``rows`` plus the workers' open buckets (their sums so far, in the worker rows:
        ``schema.OPEN_BUCKET_COLUMNS``), added to the row of the same bucket if there is one
        (early or late shares make one)."""
        start, accept, stale, reject = (_w.c[c] for c in schema.OPEN_BUCKET_COLUMNS[period_s])
        stmt = sa.select(
            _w.c.puid, _w.c.worker_id, start.label("start"), accept, stale, reject
        ).where(
            _w.c.puid == puid,
            start >= start_from,
            start < start_to,
            start > 0,
            sa.or_(accept != 0, stale != 0, reject != 0),
        )
        if worker_id != 0:
            stmt = stmt.where(_w.c.worker_id == worker_id)
        with self.read() as conn:
            open_rows = conn.execute(stmt).all()
        if not open_rows:
            return rows
        by_key = {(r["start"], r["worker_id"]): r for r in rows}
        for o in open_rows:
            key = (o.start, o.worker_id)
            row = by_key.get(key)
            if row is None:
                row = by_key[key] = {
                    "puid": o.puid,
                    "worker_id": o.worker_id,
                    "period_s": period_s,
                    "start": o.start,
                    "accept": 0.0,
                    "stale": 0.0,
                    "reject": 0.0,
                }
            else:
                row = by_key[key] = dict(row)
            for column, value in zip(("accept", "stale", "reject"), o[3:], strict=True):
                row[column] += value
        return [by_key[k] for k in sorted(by_key)]

    def open_buckets(
        self, period_s: int, partition: tuple[int, int] | None = None
    ) -> tuple[int, list[int], list[str], F64]:
        """The workers' newest open bucket of ``period_s`` as stored: (start, puids, worker
        names, sums of shape (3, n): accept, reject, stale), for ``Engine.load_open`` on
        recovery. One read of every worker row; (0, [], [], empty) when there is none.

        ``partition`` (K, N): only the sub-accounts of partition K of N (an aggregator's own;
        another partition's newest bucket may have moved on already)."""
        start, accept, stale, reject = (_w.c[c] for c in schema.OPEN_BUCKET_COLUMNS[period_s])
        stmt = sa.select(_w.c.puid, _w.c.worker_name, start, accept, reject, stale).where(
            start > 0, sa.or_(accept != 0, stale != 0, reject != 0)
        )
        if partition is None:
            stmt = stmt.where(start == sa.select(sa.func.max(start)).scalar_subquery())
        with self.read() as conn:
            found = conn.execute(stmt).all()
        if partition is not None:
            k, n = partition
            found = [r for r in found if partition_of(int(r[0]), n) == k]
            newest = max((int(r[2]) for r in found), default=0)
            found = [r for r in found if int(r[2]) == newest]
        if not found:
            return 0, [], [], np.zeros((3, 0))
        sums = np.array([r[3:] for r in found], np.float64).T
        return int(found[0][2]), [r[0] for r in found], [r[1] for r in found], sums

    def _stored_history(
        self,
        level: Level,
        period_s: int,
        puid: int,
        worker_id: int,
        start_from: int,
        start_to: int,
    ) -> list[dict[str, Any]]:
        t = schema.HISTORY_TABLES[level]
        if level is Level.POOL:
            stmt = sa.select(t).where(
                t.c.period_s == period_s, t.c.start >= start_from, t.c.start < start_to
            )
            return self._all(stmt.order_by(t.c.start))
        lo_hi = sa.select(
            sa.select(sa.func.min(t.c.start)).where(t.c.period_s == period_s).scalar_subquery(),
            sa.select(sa.func.max(t.c.start)).where(t.c.period_s == period_s).scalar_subquery(),
        )
        with self.read() as conn:
            lowest, highest = conn.execute(lo_hi).one()
            if lowest is None:
                return []
            first = max(-(-start_from // period_s) * period_s, lowest)
            stop = min(start_to, highest + 1)
            if first >= stop:
                return []
            one_worker = level is Level.SUBACCOUNT or worker_id != 0
            query = self._history_by_bucket(level, one_worker)
            params = {"first": first, "stop": stop, "period_s": period_s, "puid": puid}
            if level is Level.WORKER and one_worker:
                params["worker_id"] = worker_id
            return [dict(row._mapping) for row in conn.execute(query, params)]
