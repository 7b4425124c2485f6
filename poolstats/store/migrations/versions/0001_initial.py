"""Initial schema: accounts, realtime snapshots, history and meta.

Written out rather than generated from ``schema.py`` so this revision stays frozen when the
schema moves on; ``tests/store`` checks both agree at head.

Revision ID: 0001
Revises:
Create Date: 2024-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WINDOWS = (
    "accept_1m", "accept_5m", "accept_15m", "accept_1h", "accept_1d",
    "reject_1m", "reject_5m", "reject_15m",
    "stale_1m", "stale_5m", "stale_15m",
)  # fmt: skip


def _windows() -> list[sa.Column[float]]:
    return [sa.Column(n, sa.REAL, nullable=False, server_default="0") for n in WINDOWS]


def _history() -> list[sa.Column[float]]:
    return [
        sa.Column(n, sa.REAL, nullable=False, server_default="0")
        for n in ("accept", "stale", "reject")
    ]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", BigInt, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", BigInt, nullable=False),
        sa.UniqueConstraint("name", name="uq_accounts_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "subaccounts",
        sa.Column("puid", BigInt, primary_key=True, autoincrement=True),
        sa.Column("account_id", BigInt, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", BigInt, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_subaccounts_account_id_accounts"
        ),
        sa.UniqueConstraint("name", name="uq_subaccounts_name"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_subaccounts_account_id", "subaccounts", ["account_id"])
    op.create_table(
        "access_keys",
        sa.Column("id", BigInt, primary_key=True, autoincrement=True),
        sa.Column("account_id", BigInt, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False),
        sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", BigInt, nullable=False),
        sa.Column("revoked_at", BigInt, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_access_keys_account_id_accounts"
        ),
        sa.UniqueConstraint("key_hash", name="uq_access_keys_key_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_access_keys_account_id", "access_keys", ["account_id"])

    op.create_table(
        "workers",
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("worker_id", BigInt, nullable=False),
        sa.Column("worker_name", sa.Text, nullable=False),
        sa.Column("group_id", BigInt, nullable=False, server_default="-1"),
        *_windows(),
        sa.Column("accept_count", BigInt, nullable=False, server_default="0"),
        sa.Column("reject_count", BigInt, nullable=False, server_default="0"),
        sa.Column("last_share_time", BigInt, nullable=False, server_default="0"),
        sa.Column("last_accept_time", BigInt, nullable=False, server_default="0"),
        sa.Column("last_share_ip", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", BigInt, nullable=False),
        sa.Column("updated_at", BigInt, nullable=False),
        sa.PrimaryKeyConstraint("puid", "worker_id", name="pk_workers"),
    )
    op.create_index("ix_workers_puid_last_accept_time", "workers", ["puid", "last_accept_time"])
    op.create_index("ix_workers_puid_group_id", "workers", ["puid", "group_id"])
    op.create_index("ix_workers_puid_accept_15m", "workers", ["puid", "accept_15m"])

    op.create_table(
        "worker_groups",
        sa.Column("gid", BigInt, primary_key=True, autoincrement=True),
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sort_id", BigInt, nullable=False, server_default="0"),
        sa.Column("created_at", BigInt, nullable=False),
        sa.Column("updated_at", BigInt, nullable=False),
        sa.UniqueConstraint("puid", "name", name="uq_worker_groups_puid_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "subaccount_stats",
        sa.Column("puid", BigInt, nullable=False),
        *_windows(),
        sa.Column("workers_active", BigInt, nullable=False, server_default="0"),
        sa.Column("last_share_time", BigInt, nullable=False, server_default="0"),
        sa.Column("updated_at", BigInt, nullable=False),
        sa.PrimaryKeyConstraint("puid", name="pk_subaccount_stats"),
    )
    op.create_table(
        "pool_stats",
        sa.Column("id", BigInt, nullable=False),
        *_windows(),
        sa.Column("workers_active", BigInt, nullable=False, server_default="0"),
        sa.Column("users_active", BigInt, nullable=False, server_default="0"),
        sa.Column("updated_at", BigInt, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pool_stats"),
        sa.CheckConstraint("id = 1", name="ck_pool_stats_single_row"),
    )

    op.create_table(
        "history_worker",
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("worker_id", BigInt, nullable=False),
        sa.Column("period_s", BigInt, nullable=False),
        sa.Column("start", BigInt, nullable=False),
        *_history(),
        sa.PrimaryKeyConstraint("period_s", "start", "puid", "worker_id", name="pk_history_worker"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "history_subaccount",
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("period_s", BigInt, nullable=False),
        sa.Column("start", BigInt, nullable=False),
        *_history(),
        sa.PrimaryKeyConstraint("period_s", "start", "puid", name="pk_history_subaccount"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "history_pool",
        sa.Column("period_s", BigInt, nullable=False),
        sa.Column("start", BigInt, nullable=False),
        *_history(),
        sa.PrimaryKeyConstraint("period_s", "start", name="pk_history_pool"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "meta",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for index, table in (
        ("ix_workers_puid_accept_15m", "workers"),
        ("ix_workers_puid_group_id", "workers"),
        ("ix_workers_puid_last_accept_time", "workers"),
        ("ix_access_keys_account_id", "access_keys"),
        ("ix_subaccounts_account_id", "subaccounts"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "meta",
        "history_pool",
        "history_subaccount",
        "history_worker",
        "pool_stats",
        "subaccount_stats",
        "worker_groups",
        "workers",
        "access_keys",
        "subaccounts",
        "accounts",
    ):
        op.drop_table(table)
