"""Network history: difficulty, height and fees per block in force from each time.

Earnings need the network difficulty and block reward at each share's time. A new table only,
so the upgrade touches no existing row.

Revision ID: 0003
Revises: 0002
Create Date: 2024-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "network_history",
        sa.Column("at", BigInt, nullable=False, autoincrement=False),
        sa.Column("difficulty", sa.Text, nullable=False),
        sa.Column("height", BigInt, nullable=False),
        sa.Column("fees_per_block_sat", BigInt, nullable=False, server_default="0"),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("recorded_at", BigInt, nullable=False),
        sa.PrimaryKeyConstraint("at", name="pk_network_history"),
    )


def downgrade() -> None:
    op.drop_table("network_history")
