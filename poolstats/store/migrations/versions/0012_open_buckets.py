"""Workers' open history buckets in their realtime rows; the 15-minute order index dropped.

- ``workers`` gets ``hour_*`` and ``day_*`` columns (start, accept, stale, reject): the sums
  so far of the worker's open hourly and daily buckets, written with the row every flush. The
  bucket's increments reach ``history_worker`` once, in the flush after it closes, so a
  flush writes one row per worker instead of three. Existing rows get 0 (no open bucket):
  their buckets so far are in ``history_worker`` already, written the old way. The sums are
  ``DOUBLE PRECISION`` on PostgreSQL, as 0009 made the others.
- ``ix_workers_accept_15m`` and ``ix_workers_status`` are dropped on SQLite (0009 dropped them
  on PostgreSQL): accept_15m and last_accept_time change every flush, so every update
  rewrote both entries; sorted worker lists and status counts no longer read them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from poolstats.domain.history_partitions import partition_name, partition_range

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Real: sa.types.TypeEngine[float] = sa.REAL().with_variant(sa.DOUBLE_PRECISION(), "postgresql")
PERIODS = {"hour": 3600, "day": 86400}
OPEN_COLUMNS = tuple(
    f"{prefix}_{part}" for prefix in PERIODS for part in ("start", "accept", "stale", "reject")
)
INDEXES = {
    "ix_workers_status": ["puid", "last_accept_time", "group_id"],
    "ix_workers_accept_15m": ["puid", "accept_15m", "worker_id", "last_accept_time", "group_id"],
}
NOT_DELETED = "group_id != 0"


def upgrade() -> None:
    for index in INDEXES:  # gone on PostgreSQL since 0009
        op.execute(f"DROP INDEX IF EXISTS {index}")
    for name in OPEN_COLUMNS:
        kind = BigInt if name.endswith("_start") else Real
        op.add_column("workers", sa.Column(name, kind, nullable=False, server_default="0"))


def downgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    # The open buckets' sums so far go back into history_worker, as the revisions before had.
    for prefix, period in PERIODS.items():
        if postgres:  # history_worker is partitioned (0009): the partitions they need first
            starts = conn.execute(
                sa.text(f"SELECT DISTINCT {prefix}_start FROM workers WHERE {prefix}_start > 0")
            ).scalars()
            for lo, hi in sorted({partition_range(period, int(s)) for s in starts}):
                op.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name('history_worker', period, lo)} "
                    f"PARTITION OF history_worker FOR VALUES FROM ({period}, {lo}) "
                    f"TO ({period}, {hi})"
                )
        op.execute(
            "INSERT INTO history_worker (puid, worker_id, period_s, start, accept, stale, reject) "
            f"SELECT puid, worker_id, {period}, {prefix}_start, {prefix}_accept, "
            f"{prefix}_stale, {prefix}_reject FROM workers WHERE {prefix}_start > 0 AND "
            f"({prefix}_accept != 0 OR {prefix}_stale != 0 OR {prefix}_reject != 0) "
            "ORDER BY 3, 4, 1, 2 "
            "ON CONFLICT (period_s, start, puid, worker_id) DO UPDATE SET "
            "accept = history_worker.accept + excluded.accept, "
            "stale = history_worker.stale + excluded.stale, "
            "reject = history_worker.reject + excluded.reject"
        )
    for name in reversed(OPEN_COLUMNS):
        op.execute(f"ALTER TABLE workers DROP COLUMN {name}")
    if postgres:  # 0009's downgrade makes them again
        return
    for index, columns in INDEXES.items():
        op.create_index(index, "workers", columns, sqlite_where=sa.text(NOT_DELETED))
