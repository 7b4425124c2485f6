"""Sub-account profiles, and workers stored for the public API's lists and counts.

- ``subaccounts`` gets the profile columns of BTC.COM's /v1/account/info (text, '' when
  unset) and ``updated_at`` (0: never updated).
- ``workers`` is rebuilt WITHOUT ROWID, clustered by (puid, worker_id), so that a
  sub-account's workers are adjacent; its three indexes are replaced by two partial ones
  that leave deleted workers (group 0) out: status ranges, and the 15-minute order. The
  rebuild copies every row in one statement (6.4 s for a million workers), inside the
  upgrade's transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2024-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PROFILE = (
    "address", "nmc_address", "rebates_address", "region", "mail", "phone_country",
    "phone_number",
)  # fmt: skip
WINDOWS = (
    "accept_1m", "accept_5m", "accept_15m", "accept_1h", "accept_1d",
    "reject_1m", "reject_5m", "reject_15m",
    "stale_1m", "stale_5m", "stale_15m",
)  # fmt: skip
WORKER_COLUMNS = (
    "puid", "worker_id", "worker_name", "group_id", *WINDOWS, "accept_count", "reject_count",
    "last_share_time", "last_accept_time", "last_share_ip", "created_at", "updated_at",
)  # fmt: skip
OLD_INDEXES = {
    "ix_workers_puid_last_accept_time": ["puid", "last_accept_time"],
    "ix_workers_puid_group_id": ["puid", "group_id"],
    "ix_workers_puid_accept_15m": ["puid", "accept_15m"],
}
NOT_DELETED = "group_id != 0"
NEW_INDEXES = {
    "ix_workers_status": ["puid", "last_accept_time", "group_id"],
    "ix_workers_accept_15m": ["puid", "accept_15m", "worker_id", "last_accept_time", "group_id"],
}


def _workers_table(name: str, with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("worker_id", BigInt, nullable=False),
        sa.Column("worker_name", sa.Text, nullable=False),
        sa.Column("group_id", BigInt, nullable=False, server_default="-1"),
        *(sa.Column(n, sa.REAL, nullable=False, server_default="0") for n in WINDOWS),
        sa.Column("accept_count", BigInt, nullable=False, server_default="0"),
        sa.Column("reject_count", BigInt, nullable=False, server_default="0"),
        sa.Column("last_share_time", BigInt, nullable=False, server_default="0"),
        sa.Column("last_accept_time", BigInt, nullable=False, server_default="0"),
        sa.Column("last_share_ip", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", BigInt, nullable=False),
        sa.Column("updated_at", BigInt, nullable=False),
        sa.PrimaryKeyConstraint("puid", "worker_id", name="pk_workers"),
        sqlite_with_rowid=with_rowid,
    )


def _rebuild_workers(with_rowid: bool) -> None:
    """Copy ``workers`` into a new table of the wanted kind (SQLite cannot alter that)."""
    _workers_table("workers_rebuilt", with_rowid)
    cols = ", ".join(WORKER_COLUMNS)
    op.execute(
        f"INSERT INTO workers_rebuilt ({cols}) SELECT {cols} FROM workers ORDER BY puid, worker_id"
    )
    op.drop_table("workers")
    op.rename_table("workers_rebuilt", "workers")


def upgrade() -> None:
    for name in PROFILE:
        op.add_column("subaccounts", sa.Column(name, sa.Text, nullable=False, server_default=""))
    op.add_column(
        "subaccounts", sa.Column("updated_at", BigInt, nullable=False, server_default="0")
    )
    for index in OLD_INDEXES:
        op.drop_index(index, table_name="workers")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_workers(with_rowid=False)
    for index, columns in NEW_INDEXES.items():
        op.create_index(
            index,
            "workers",
            columns,
            sqlite_where=sa.text(NOT_DELETED),
            postgresql_where=sa.text(NOT_DELETED),
        )


def downgrade() -> None:
    for index in NEW_INDEXES:
        op.drop_index(index, table_name="workers")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_workers(with_rowid=True)
    for index, columns in OLD_INDEXES.items():
        op.create_index(index, "workers", columns)
    for name in (*PROFILE, "updated_at"):
        op.drop_column("subaccounts", name)
