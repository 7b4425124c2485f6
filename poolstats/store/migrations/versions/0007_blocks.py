"""Blocks: every block the pool found, its finder, reward and the node's verdict.

A new table only, so the upgrade touches no existing row.

Revision ID: 0007
Revises: 0006
Create Date: 2025-01-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column("id", BigInt, nullable=False, autoincrement=True),
        sa.Column("height", BigInt, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("worker", sa.Text, nullable=False),
        sa.Column("reward_sat", BigInt, nullable=False),
        sa.Column("found_at", BigInt, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", BigInt, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_blocks"),
        sa.UniqueConstraint("hash", name="uq_blocks_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_blocks_found_at", "blocks", ["found_at"])


def downgrade() -> None:
    op.drop_index("ix_blocks_found_at", table_name="blocks")
    op.drop_table("blocks")
