"""Alerts: settings per sub-account, contacts, the alert log and the evaluator's state.

New tables only, so the upgrade touches no existing row.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["puid"], ["subaccounts.puid"], name=f"fk_{table}_puid_subaccounts"
    )


def upgrade() -> None:
    op.create_table(
        "alert_settings",
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("interval_h", BigInt, nullable=False),
        sa.Column("hashrate_value", sa.Text, nullable=False),
        sa.Column("hashrate_unit", sa.Text, nullable=False),
        sa.Column("hashrate_enabled", sa.Boolean, nullable=False),
        sa.Column("miners_value", BigInt, nullable=False),
        sa.Column("miners_enabled", sa.Boolean, nullable=False),
        sa.Column("updated_at", BigInt, nullable=False),
        _fk("alert_settings"),
        sa.PrimaryKeyConstraint("puid", name="pk_alert_settings"),
    )
    op.create_table(
        "alert_contacts",
        sa.Column("id", BigInt, nullable=False, autoincrement=True),
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("created_at", BigInt, nullable=False),
        sa.Column("updated_at", BigInt, nullable=False),
        _fk("alert_contacts"),
        sa.PrimaryKeyConstraint("id", name="pk_alert_contacts"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alert_contacts_puid", "alert_contacts", ["puid"])
    op.create_table(
        "alert_log",
        sa.Column("id", BigInt, nullable=False, autoincrement=True),
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("created_at", BigInt, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("threshold", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("interval_h", BigInt, nullable=False),
        sa.Column("is_read", sa.Boolean, nullable=False, server_default=sa.false()),
        _fk("alert_log"),
        sa.PrimaryKeyConstraint("id", name="pk_alert_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alert_log_puid_id", "alert_log", ["puid", "id"])
    op.create_table(
        "alert_state",
        sa.Column("puid", BigInt, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("breaches", BigInt, nullable=False),
        sa.Column("clears", BigInt, nullable=False),
        sa.Column("firing", sa.Boolean, nullable=False),
        sa.Column("last_notified_at", BigInt, nullable=False),
        sa.Column("updated_at", BigInt, nullable=False),
        _fk("alert_state"),
        sa.PrimaryKeyConstraint("puid", "kind", name="pk_alert_state"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_index("ix_alert_log_puid_id", table_name="alert_log")
    op.drop_index("ix_alert_contacts_puid", table_name="alert_contacts")
    for name in ("alert_state", "alert_log", "alert_contacts", "alert_settings"):
        op.drop_table(name)
