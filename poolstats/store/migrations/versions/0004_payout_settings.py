"""Payout settings per sub-account: payment mode, fee rate and minimum payout.

``subaccounts`` gets ``payment_mode`` ('PPS' for every existing row), ``fee_rate`` (NULL: the
pool's default fee, so changing the pool's fee reaches every sub-account without one of its
own) and ``min_payout_sat`` (integer satoshis, 500000 = 0.005 BTC). Added columns only: no
row is rewritten beyond its defaults.

Revision ID: 0004
Revises: 0003
Create Date: 2024-12-16
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MIN_PAYOUT_DEFAULT_SAT = 500_000  # a migration is frozen history: not imported from the code


def upgrade() -> None:
    op.add_column(
        "subaccounts", sa.Column("payment_mode", sa.Text, nullable=False, server_default="PPS")
    )
    op.add_column("subaccounts", sa.Column("fee_rate", sa.Text, nullable=True))
    op.add_column(
        "subaccounts",
        sa.Column(
            "min_payout_sat",
            BigInt,
            nullable=False,
            server_default=str(MIN_PAYOUT_DEFAULT_SAT),
        ),
    )


def downgrade() -> None:
    for name in ("min_payout_sat", "fee_rate", "payment_mode"):
        op.drop_column("subaccounts", name)
