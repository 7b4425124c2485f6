"""The database's identity: a random id in ``meta``, also written beside the journal.

It lets a start tell a fresh data folder from one whose database went missing, was emptied
or was replaced by another folder's (``poolstats.store.data_folder``). A row only, no schema
change; an existing database gets its id here, once.

Revision ID: 0008
Revises: 0007
Create Date: 2025-01-08
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "data_id"


def upgrade() -> None:
    op.get_bind().execute(
        sa.text("INSERT INTO meta (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING"),
        {"key": KEY, "value": secrets.token_hex(16)},
    )


def downgrade() -> None:
    op.get_bind().execute(sa.text("DELETE FROM meta WHERE key = :key"), {"key": KEY})
