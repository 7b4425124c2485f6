"""PostgreSQL's own layout; nothing changes on SQLite.

- Difficulty sums are ``DOUBLE PRECISION``: the revisions before this one declare ``REAL``,
  which SQLite stores as 8 bytes but PostgreSQL as 4 (7 significant digits).
- ``workers`` is rewritten in place every flush: ``fillfactor = 50`` leaves room on each page
  for the new row versions, and the indexes on columns every flush changes (``accept_15m``,
  ``last_accept_time``) are dropped, so those updates are HOT (no index entry per update).
  Lists sorted by a window column and counts by status read the sub-account's rows by the
  primary key (``puid`` first) instead.
- The history tables become partitioned by ``RANGE (period_s, start)``: prune drops whole
  partitions instead of deleting rows. Partitions are made by the store as flushes need them
  (``store.postgres``); rows already present are moved into partitions made here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from poolstats.domain.history_partitions import partition_name, partition_range

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WINDOWS = (
    "accept_1m", "accept_5m", "accept_15m", "accept_1h", "accept_1d",
    "reject_1m", "reject_5m", "reject_15m",
    "stale_1m", "stale_5m", "stale_15m",
)  # fmt: skip
DOUBLES = {
    "workers": WINDOWS,
    "subaccount_stats": WINDOWS,
    "pool_stats": WINDOWS,
    "earnings": ("accepted_diff",),
}
HISTORY = {  # table -> key columns after (period_s, start)
    "history_worker": ("puid", "worker_id"),
    "history_subaccount": ("puid",),
    "history_pool": (),
}


def _history_ddl(table: str, keys: Sequence[str]) -> str:
    key_cols = "".join(f"{k} BIGINT NOT NULL, " for k in keys)
    pk = ", ".join(("period_s", "start", *keys))
    return (
        f"CREATE TABLE {table} ({key_cols}period_s BIGINT NOT NULL, start BIGINT NOT NULL, "
        "accept DOUBLE PRECISION NOT NULL DEFAULT 0, stale DOUBLE PRECISION NOT NULL DEFAULT 0, "
        "reject DOUBLE PRECISION NOT NULL DEFAULT 0, "
        f"CONSTRAINT pk_{table} PRIMARY KEY ({pk})) PARTITION BY RANGE (period_s, start)"
    )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, columns in DOUBLES.items():
        alters = ", ".join(f"ALTER COLUMN {c} TYPE DOUBLE PRECISION" for c in columns)
        op.execute(f"ALTER TABLE {table} {alters}")
    op.execute("ALTER TABLE workers SET (fillfactor = 50)")
    op.execute("DROP INDEX IF EXISTS ix_workers_accept_15m")
    op.execute("DROP INDEX IF EXISTS ix_workers_status")
    for table, keys in HISTORY.items():
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
        op.execute(
            f"ALTER TABLE {table}_unpartitioned RENAME CONSTRAINT pk_{table} TO pk_{table}_old"
        )
        op.execute(_history_ddl(table, keys))
        ranges = {
            (*partition_range(int(p), int(s)), int(p))
            for p, s in conn.execute(
                sa.text(f"SELECT DISTINCT period_s, start FROM {table}_unpartitioned")
            )
        }
        for lo, hi, period_s in sorted(ranges):
            op.execute(
                f"CREATE TABLE {partition_name(table, period_s, lo)} PARTITION OF {table} "
                f"FOR VALUES FROM ({period_s}, {lo}) TO ({period_s}, {hi})"
            )
        cols = ", ".join((*keys, "period_s", "start", "accept", "stale", "reject"))
        op.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {table}_unpartitioned")
        op.execute(f"DROP TABLE {table}_unpartitioned")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, keys in HISTORY.items():
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_partitioned")
        op.execute(
            f"ALTER TABLE {table}_partitioned RENAME CONSTRAINT pk_{table} TO pk_{table}_new"
        )
        op.execute(
            _history_ddl(table, keys).split(" PARTITION BY")[0].replace("DOUBLE PRECISION", "REAL")
        )
        cols = ", ".join((*keys, "period_s", "start", "accept", "stale", "reject"))
        op.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {table}_partitioned")
        op.execute(f"DROP TABLE {table}_partitioned")
    op.execute(
        "CREATE INDEX ix_workers_status ON workers "
        "(puid, last_accept_time, group_id) WHERE group_id != 0"
    )
    op.execute(
        "CREATE INDEX ix_workers_accept_15m ON workers "
        "(puid, accept_15m, worker_id, last_accept_time, group_id) WHERE group_id != 0"
    )
    op.execute("ALTER TABLE workers RESET (fillfactor)")
    for table, columns in DOUBLES.items():
        alters = ", ".join(f"ALTER COLUMN {c} TYPE REAL" for c in columns)
        op.execute(f"ALTER TABLE {table} {alters}")
