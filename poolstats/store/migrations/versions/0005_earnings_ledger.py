"""The earnings ledger: unsettled work, settled earnings per day, payout batches.

New tables only, so the upgrade touches no existing row.

Revision ID: 0005
Revises: 0004
Create Date: 2024-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "work",
        sa.Column("day", BigInt, nullable=False, autoincrement=False),
        sa.Column("puid", BigInt, nullable=False, autoincrement=False),
        sa.Column("net_at", BigInt, nullable=False, autoincrement=False),
        sa.Column("diff_hi", BigInt, nullable=False),
        sa.Column("diff_lo", BigInt, nullable=False),
        sa.Column("capped", BigInt, nullable=False),
        sa.PrimaryKeyConstraint("day", "puid", "net_at", name="pk_work"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "payout_batches",
        sa.Column("id", BigInt, nullable=False, autoincrement=True),
        sa.Column("created_at", BigInt, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("txid", sa.Text, nullable=True),
        sa.Column("closed_at", BigInt, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_payout_batches"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "payouts",
        sa.Column("batch_id", BigInt, nullable=False),
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("amount_sat", BigInt, nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["payout_batches.id"], name="fk_payouts_batch_id_payout_batches"
        ),
        sa.ForeignKeyConstraint(["puid"], ["subaccounts.puid"], name="fk_payouts_puid_subaccounts"),
        sa.PrimaryKeyConstraint("batch_id", "puid", name="pk_payouts"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "earnings",
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("day", BigInt, nullable=False, autoincrement=False),
        sa.Column("amount_sat", BigInt, nullable=False),
        sa.Column("payment_mode", sa.Text, nullable=False),
        sa.Column("fee_rate", sa.Text, nullable=False),
        sa.Column("difficulty", sa.Text, nullable=False),
        sa.Column("accepted_diff", sa.REAL, nullable=False),
        sa.Column("batch_id", BigInt, nullable=True),
        sa.Column("settled_at", BigInt, nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["payout_batches.id"], name="fk_earnings_batch_id_payout_batches"
        ),
        sa.ForeignKeyConstraint(
            ["puid"], ["subaccounts.puid"], name="fk_earnings_puid_subaccounts"
        ),
        sa.PrimaryKeyConstraint("puid", "day", name="pk_earnings"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for name in ("earnings", "payouts", "payout_batches", "work"):
        op.drop_table(name)
