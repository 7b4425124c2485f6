"""What an API process reads about the cluster's writers: each partition's ``pool_stats`` row
time, the leases, and the busiest sub-accounts (for ``/metrics``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from poolstats.store import leases, schema
from poolstats.store.base import Transactions


def partition_flushes(store: Transactions, partitions: int) -> dict[int, int]:
    """partition -> ``updated_at`` of its pool row (its last flush); absent before the first."""
    p = schema.pool_stats
    ids = {schema.pool_row_id(k): k for k in range(partitions)}
    with store.read() as conn:
        rows = conn.execute(sa.select(p.c.id, p.c.updated_at).where(p.c.id.in_(sorted(ids))))
        return {ids[int(r.id)]: int(r.updated_at) for r in rows}


def all_leases(store: Transactions) -> dict[str, leases.Lease]:
    with store.read() as conn:
        return {lease.name: lease for lease in leases.leases(conn)}


def top_subaccounts(
    store: Transactions, limit: int, by: str = "accept_15m"
) -> list[dict[str, Any]]:
    """The ``limit`` sub-accounts with the most ``by`` (a window column) above 0, most first:
    puid and every accept window, as of their partitions' last flushes."""
    s = schema.subaccount_stats
    if by not in schema.WINDOW_COLUMNS:
        raise ValueError(f"by: not a window column: {by!r}")
    cols = [s.c.puid, *(s.c[c] for c in schema.WINDOW_COLUMNS if c.startswith("accept_"))]
    query = sa.select(*cols).where(s.c[by] > 0).order_by(s.c[by].desc(), s.c.puid).limit(limit)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
