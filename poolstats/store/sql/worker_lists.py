"""The SQL of worker lists, shared by both backends: pages, status counts and the terms
they are made of (SQLAlchemy Core, compiled per dialect).

Public so that SQLite's kept lists (``store.sqlite``) reuse the order and filter terms, and
so tests can EXPLAIN the statements.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from poolstats.domain.status import WorkerStatus
from poolstats.domain.worker_query import WORKER_ORDER_KEYS, WorkerQuery
from poolstats.store import schema

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
