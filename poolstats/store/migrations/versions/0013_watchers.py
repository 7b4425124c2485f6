"""Watchers: links that open one sub-account for reading, kept as hashes of their tokens.

A new table only, so the upgrade touches no existing row.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "watchers",
        sa.Column("id", BigInt, nullable=False, autoincrement=True),
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("token_prefix", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", BigInt, nullable=False),
        sa.Column("updated_at", BigInt, nullable=False),
        sa.ForeignKeyConstraint(
            ["puid"], ["subaccounts.puid"], name="fk_watchers_puid_subaccounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_watchers"),
        sa.UniqueConstraint("token_hash", name="uq_watchers_token_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_watchers_puid", "watchers", ["puid"])


def downgrade() -> None:
    op.drop_index("ix_watchers_puid", table_name="watchers")
    op.drop_table("watchers")
