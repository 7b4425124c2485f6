"""Facts of each worker in its row: its first share's time and its mining software's agent.

- ``workers.first_share_time``: unix seconds of the worker's first share, 0 when unknown.
  Flushes keep the earliest they are given, so it never moves later. Rows written before
  this revision get their ``created_at``: the time of the flush that first wrote the row,
  which followed the worker's first share by at most a flush interval (a share is counted
  by the flush after it, never before). Closer than the engine's own first share, which for
  such a worker is only the first since the engine started tracking it again.
- ``workers.miner_agent``: the user agent stratum's ``mining.subscribe`` named ("" when
  none), replaced whenever a flush gives a non-empty one.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "workers", sa.Column("first_share_time", BigInt, nullable=False, server_default="0")
    )
    op.add_column("workers", sa.Column("miner_agent", sa.Text, nullable=False, server_default=""))
    op.execute("UPDATE workers SET first_share_time = created_at WHERE created_at > 0")


def downgrade() -> None:
    op.execute("ALTER TABLE workers DROP COLUMN miner_agent")
    op.execute("ALTER TABLE workers DROP COLUMN first_share_time")
