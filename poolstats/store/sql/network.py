"""The network port in SQL shared by both backends: difficulty and reward over time."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from poolstats.domain.network_entry import validate_network
from poolstats.store import schema
from poolstats.store.sql.unit_of_work import SqlUnitOfWork


class SqlNetwork(SqlUnitOfWork):
    """``NetworkPort`` over the backend's transactions."""

    def record_network(
        self, at: int, difficulty: str, height: int, fees_per_block_sat: int, source: str, now: int
    ) -> bool:
        """Upsert the entry at ``at``; read and write in one ``BEGIN IMMEDIATE`` transaction, so
        two recorders cannot both see "absent" and both write."""
        normal = validate_network(difficulty, height, fees_per_block_sat, source)
        n = schema.network_history
        values = {
            "difficulty": normal,
            "height": height,
            "fees_per_block_sat": fees_per_block_sat,
            "source": source,
        }
        with self.write() as conn:
            row = conn.execute(
                sa.select(n.c.difficulty, n.c.height, n.c.fees_per_block_sat, n.c.source).where(
                    n.c.at == at
                )
            ).first()
            if row is not None and dict(row._mapping) == values:
                return False
            if row is None:
                conn.execute(sa.insert(n).values(at=at, recorded_at=now, **values))
            else:
                conn.execute(sa.update(n).where(n.c.at == at).values(recorded_at=now, **values))
        return True

    def network_at(self, ts: int) -> dict[str, Any] | None:
        """The newest entry with ``at <= ts``: one primary-key seek backwards."""
        n = schema.network_history
        return self._one(sa.select(n).where(n.c.at <= ts).order_by(n.c.at.desc()).limit(1))

    def network_history(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The entry in force at ``start`` and those with ``start < at < stop``, by ``at``; both
        read in one transaction so a concurrent record cannot make them disagree."""
        n = schema.network_history
        with self.read() as conn:
            first = conn.execute(
                sa.select(n).where(n.c.at <= start).order_by(n.c.at.desc()).limit(1)
            ).first()
            rest = conn.execute(
                sa.select(n).where(n.c.at > start, n.c.at < stop).order_by(n.c.at)
            ).all()
        rows = ([first] if first is not None and start < stop else []) + list(rest)
        return [dict(r._mapping) for r in rows]
