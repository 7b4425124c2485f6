"""The store's ports: one narrow ``Protocol`` per concern, each in its own module.

A consumer takes the port it uses (the API's key check ``AccountsPort``, the network poller
``NetworkPort``, an aggregator ``StatsPort``), so what it may touch is visible in its
signature. Accounts, groups, network, stats, sub-accounts, watchers and the unit of work
are methods of one store object (``store.base.Store`` composes them); the ledger, alerts and
blocks are separate implementations over a ``UnitOfWork`` (``store.ledger``,
``store.alerts.AlertStore``, ``store.blocks.BlockStore``). One contract suite
(``tests/store/contract``) runs each port unchanged against every backend.
"""

from __future__ import annotations

from poolstats.store.ports.accounts import (
    AccountsPort,
    KeyGrant,
    NewUser,
    UnknownAccount,
    UserExists,
)
from poolstats.store.ports.alerts import AlertsPort
from poolstats.store.ports.blocks import BlocksPort
from poolstats.store.ports.groups import GroupExists, GroupsPort
from poolstats.store.ports.ledger import LedgerPort
from poolstats.store.ports.network import NetworkPort
from poolstats.store.ports.stats import SINGLE_NODE, FlushWriter, StatsPort, WorkerPage
from poolstats.store.ports.subaccounts import SubaccountsPort, TooManySubaccounts
from poolstats.store.ports.unit_of_work import UnitOfWork
from poolstats.store.ports.watchers import NewWatcher, TooManyWatchers, Watcher, WatchersPort

__all__ = [
    "SINGLE_NODE",
    "AccountsPort",
    "AlertsPort",
    "BlocksPort",
    "FlushWriter",
    "GroupExists",
    "GroupsPort",
    "KeyGrant",
    "LedgerPort",
    "NetworkPort",
    "NewUser",
    "NewWatcher",
    "StatsPort",
    "SubaccountsPort",
    "TooManySubaccounts",
    "TooManyWatchers",
    "UnitOfWork",
    "UnknownAccount",
    "UserExists",
    "Watcher",
    "WatchersPort",
    "WorkerPage",
]
