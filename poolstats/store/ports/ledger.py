"""The ledger port: earnings settled per UTC day, balances and payout batches.

``store.ledger`` implements it as module functions, each taking the ``UnitOfWork`` it runs
in: the module itself satisfies this protocol (mypy checks it there), so a caller may be
handed "a ledger" without knowing it is that module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from poolstats.store.ports.unit_of_work import UnitOfWork

if TYPE_CHECKING:  # the port's data types live with their implementation
    from poolstats.engine.work import Timeline
    from poolstats.store.ledger import Balance, Batch, EarningsDay, NewBatch, Settlement


class LedgerPort(Protocol):
    """Settlement, balances, earnings history and payout batches (integer satoshis)."""

    def settled_through(self, store: UnitOfWork) -> int | None:
        """Start of the newest settled UTC day, or ``None`` before the first settlement."""
        ...

    def network_version(self, store: UnitOfWork) -> tuple[int, int]:
        """Changes whenever a network state is added or updated."""
        ...

    def timeline(self, store: UnitOfWork) -> Timeline:
        """The engine's capping timeline: every recorded state's time and difficulty."""
        ...

    def settle(
        self,
        store: UnitOfWork,
        through: int,
        now: int,
        default_fee: Fraction,
        guard: Callable[[sa.Connection], None] | None = None,
    ) -> Settlement:
        """Settle every unsettled UTC day up to and including the one starting ``through``."""
        ...

    def balance(self, store: UnitOfWork, puid: int, now: int, default_fee: Fraction) -> Balance:
        """A sub-account's balance in one read transaction, so the figures agree."""
        ...

    def earnings_page(
        self, store: UnitOfWork, puid: int, offset: int, limit: int
    ) -> tuple[int, list[EarningsDay]]:
        """(total days, the page newest first) in one read transaction."""
        ...

    def create_batch(self, store: UnitOfWork, now: int) -> NewBatch:
        """One pending batch paying every sub-account whose unpaid balance reaches its
        minimum its whole unpaid balance."""
        ...

    def batch(self, store: UnitOfWork, batch_id: int) -> Batch:
        """One batch; ``LedgerError`` if there is none with this id."""
        ...

    def batches(self, store: UnitOfWork) -> list[Batch]:
        """Every batch."""
        ...

    def confirm_batch(self, store: UnitOfWork, batch_id: int, txid: str, now: int) -> Batch:
        """Mark a pending batch paid by ``txid``; the same txid again is a no-op."""
        ...

    def cancel_batch(self, store: UnitOfWork, batch_id: int, now: int) -> Batch:
        """Give a pending batch's earnings back to unpaid (its transaction was never sent)."""
        ...

    def totals(self, store: UnitOfWork) -> Mapping[int, int]:
        """Σ earnings per sub-account, for checks."""
        ...
