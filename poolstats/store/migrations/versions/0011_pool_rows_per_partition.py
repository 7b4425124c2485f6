"""``pool_stats`` holds a row per writer: a single node's, or one per partition's aggregator.

The single-row check goes; pool figures become the sum of the rows (``SqlStore.pool_stats``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pool_stats") as batch:  # SQLite rebuilds the table
        batch.drop_constraint("ck_pool_stats_single_row", type_="check")


def downgrade() -> None:
    op.execute("DELETE FROM pool_stats WHERE id <> 1")
    with op.batch_alter_table("pool_stats") as batch:
        batch.create_check_constraint("single_row", "id = 1")
