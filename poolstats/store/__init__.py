"""Persistence behind the :class:`Store` protocol; SQL lives only in the backend modules."""

from poolstats.store.base import NewUser, Store, UserExists
from poolstats.store.sqlite import SqliteStore

__all__ = ["NewUser", "SqliteStore", "Store", "UserExists"]
