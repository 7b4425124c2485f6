"""Running the Alembic migrations on a connection, the same way on every backend.

The caller passes a connection already inside its write transaction: the whole upgrade is
then one transaction (both SQLite and PostgreSQL run DDL transactionally), so two processes
opening a fresh database cannot both create the schema.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(conn: sa.Connection) -> None:
    """Bring the database on ``conn`` (inside its transaction) to the newest revision."""
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def revision(conn: sa.Connection) -> str | None:
    """The database's current revision; ``None`` before any migration."""
    return MigrationContext.configure(conn).get_current_revision()
