"""What every store backend offers: the composition of the store's ports.

The API, the engine's flusher and the CLI depend on :class:`Store` (or, better, on the one
narrow port they use: ``store.ports``), never on a backend, so the SQLite default and a
PostgreSQL scale-out backend are interchangeable. The rules of what a store keeps are in
``domain/``. The names below are re-exported so that code written against one ``Store``
keeps working.
"""

from __future__ import annotations

from typing import Protocol

from poolstats.domain.worker_query import WORKER_ORDER_KEYS, WorkerQuery
from poolstats.store.ports.accounts import (
    AccountsPort,
    KeyGrant,
    NewUser,
    UnknownAccount,
    UserExists,
)
from poolstats.store.ports.groups import GroupExists, GroupsPort
from poolstats.store.ports.network import NetworkPort
from poolstats.store.ports.stats import SINGLE_NODE, FlushWriter, StatsPort, WorkerPage
from poolstats.store.ports.subaccounts import SubaccountsPort
from poolstats.store.ports.unit_of_work import UnitOfWork
from poolstats.store.ports.watchers import WatchersPort

__all__ = [
    "SINGLE_NODE",
    "WORKER_ORDER_KEYS",
    "FlushWriter",
    "GroupExists",
    "KeyGrant",
    "NewUser",
    "Store",
    "Transactions",
    "UnknownAccount",
    "UserExists",
    "WorkerPage",
    "WorkerQuery",
]

# The unit of work under its first name: alerts, blocks and the cluster view took it so.
Transactions = UnitOfWork


class Store(
    AccountsPort,
    GroupsPort,
    NetworkPort,
    StatsPort,
    SubaccountsPort,
    WatchersPort,
    UnitOfWork,
    Protocol,
):
    """One store object: every port whose methods a backend itself implements.

    The ledger, alerts and blocks ports are implemented over its unit of work instead
    (``store.ledger``, ``store.alerts``, ``store.blocks``). Every method is safe to call
    from several threads.
    """

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


