"""Alembic environment, run programmatically by ``SqliteStore.open`` (no alembic.ini needed).

The store passes its writer connection, already inside ``BEGIN IMMEDIATE``, in
``config.attributes["connection"]``: the whole upgrade is then one transaction and two processes
opening a fresh database cannot both create the schema. Without a connection (the ``alembic``
command line, for ``revision --autogenerate``) it connects to ``sqlalchemy.url``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from poolstats.store.schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copy-and-move
        transactional_ddl=True,  # SQLite runs DDL inside transactions
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
