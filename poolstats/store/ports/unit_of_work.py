"""The unit of work: a store's own write and read transactions.

The ledger, alerts and blocks write their SQL themselves, over the connection a transaction
hands them; they need nothing else of a store, so they depend on this port alone and any
backend that makes transactions serves them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import sqlalchemy as sa


@runtime_checkable
class UnitOfWork(Protocol):
    """Transactions: one writer at a time, each reader one consistent snapshot."""

    def write(self) -> AbstractContextManager[sa.Connection]:
        """One write transaction; it commits unless the block raises, and each backend
        admits one writer at a time, so a read-then-write inside it needs no retry."""
        ...

    def read(self) -> AbstractContextManager[sa.Connection]:
        """One read transaction: every statement in it sees the same snapshot."""
        ...
