"""What the SQL backends share: every ``Store`` method whose SQL is the same on SQLite and
PostgreSQL (SQLAlchemy Core, compiled per dialect), one module per port.

:class:`SqlStore` composes them: ``accounts``, ``groups``, ``network``, ``stats``,
``subaccounts`` and ``watchers``, each a
mixin over ``unit_of_work`` (the transactions a backend supplies); ``worker_lists`` holds
the worker-list statements. A backend (``store.sqlite``, ``store.postgres``) subclasses
``SqlStore`` and supplies only what differs (see ``unit_of_work``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from poolstats.store.sql.accounts import SqlAccounts
from poolstats.store.sql.groups import SqlGroups
from poolstats.store.sql.network import SqlNetwork
from poolstats.store.sql.stats import SqlStats
from poolstats.store.sql.subaccounts import SqlSubaccounts
from poolstats.store.sql.watchers import SqlWatchers
from poolstats.store.sql.worker_lists import worker_counts_one_pass, worker_page_statements

__all__ = ["SqlStore", "worker_counts_one_pass", "worker_page_statements"]


class SqlStore(SqlAccounts, SqlGroups, SqlNetwork, SqlStats, SqlSubaccounts, SqlWatchers):
    """The backend-neutral part of a :class:`~poolstats.store.base.Store`: every port's
    shared SQL over the transactions a backend subclass makes."""


if TYPE_CHECKING:
    from poolstats.store.base import Store

    _conforms: type[Store] = SqlStore
