"""The unit of work every SQL backend supplies, and the reads the other mixins share.

A backend subclasses :class:`~poolstats.store.sql.SqlStore` and supplies only what differs:
how connections and transactions are made (``write``/``read``; and the stats mixin's bulk
``write_flush``, ``prune`` and history lookup by enumerated bucket starts). Each
backend's ``write`` admits one writer at a time (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an
advisory transaction lock), so the read-then-write methods of the other mixins
(``record_network``, ``move_workers``, name checks) are correct on both without retries.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa

from poolstats.store import schema


class SqlUnitOfWork:
    """Transactions (the ``UnitOfWork`` port) as a backend makes them, and the shared reads.
    Subclasses set ``dialect`` and implement the methods raising ``NotImplementedError``."""

    dialect = ""  # SQLAlchemy dialect name: "sqlite" or "postgresql"

    # --- what a backend supplies ------------------------------------------------------------

    def close(self) -> None:
        raise NotImplementedError

    def write(self, workers_changed: bool = False) -> AbstractContextManager[sa.Connection]:
        """One write transaction, one writer at a time; commits unless the block raises.
        ``workers_changed``: it changes worker rows (a backend keeping worker lists drops them
        once committed)."""
        raise NotImplementedError

    def lease_write(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction for the ``leases`` table only (``store.leases``): a backend
        whose ``write`` waits for every other writer gives leases one that does not, so a
        renewal never waits out a long flush or settlement; SQLite's single writer is it."""
        return self.write()

    def read(self) -> AbstractContextManager[sa.Connection]:
        """A read transaction: one consistent snapshot for all its statements."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- shared reads ---------------------------------------------------------------------

    def data_id(self) -> str:
        """The database's identity (``schema.DATA_ID_KEY``), the same in its backups."""
        with self.read() as conn:
            value = conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == schema.DATA_ID_KEY)
            ).scalar_one()
        return str(value)

    def _one(self, stmt: sa.Select[*tuple[Any, ...]]) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else dict(row._mapping)

    def _all(self, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]
