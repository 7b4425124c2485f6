"""Persistence behind the :class:`Store` protocol, the composition of narrow ports
(``ports``: one module per port); SQL lives only in the backend modules (``sqlite``,
``postgres``), the SQL they share (``sql``, one module per port) and the modules over a
unit of work (``ledger``, ``alerts``, ``blocks``)."""

from __future__ import annotations

from pathlib import Path

from poolstats.store.base import NewUser, Store, UserExists
from poolstats.store.sql import SqlStore
from poolstats.store.sqlite import SqliteStore

__all__ = ["NewUser", "SqlStore", "SqliteStore", "Store", "UserExists", "open_store"]


def open_store(store_url: str, data_dir: Path) -> SqlStore:
    """The configured store, migrated to the newest schema: the SQLite file in ``data_dir``
    when ``store_url`` is empty, else the PostgreSQL database it names (``postgresql://``).

    This opens the database only; ``data_folder.open_store`` also checks it against the
    folder's journal, as a node and every command do.
    """
    if not store_url:
        return SqliteStore.open(data_dir)
    from poolstats.store.postgres import PostgresStore, is_postgres_url

    if not is_postgres_url(store_url):
        raise ValueError("store_url must be empty (SQLite in data_dir) or a postgresql:// URL")
    return PostgresStore.open(store_url)
