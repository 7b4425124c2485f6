"""The unit of work's contract: a write commits as a whole or not at all, and a read sees one
snapshot however many statements it runs (the ledger, alerts and blocks rely on both)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from poolstats.store import schema
from poolstats.store.ports.unit_of_work import UnitOfWork

_meta = schema.meta
KEY = "contract/unit-of-work"


def stored(store: UnitOfWork) -> str | None:
    with store.read() as conn:
        return conn.execute(sa.select(_meta.c.value).where(_meta.c.key == KEY)).scalar()


def test_a_write_commits_and_a_later_read_sees_it(store: UnitOfWork) -> None:
    assert stored(store) is None
    with store.write() as conn:
        conn.execute(sa.insert(_meta).values(key=KEY, value="1"))
    assert stored(store) == "1"


def test_a_write_that_raises_leaves_nothing_behind(store: UnitOfWork) -> None:
    with pytest.raises(RuntimeError, match="refused"), store.write() as conn:
        conn.execute(sa.insert(_meta).values(key=KEY, value="1"))
        raise RuntimeError("refused")
    assert stored(store) is None


def test_a_read_keeps_its_snapshot_while_a_write_commits(store: UnitOfWork) -> None:
    with store.write() as conn:
        conn.execute(sa.insert(_meta).values(key=KEY, value="before"))
    query = sa.select(_meta.c.value).where(_meta.c.key == KEY)
    with store.read() as reading:
        first = reading.execute(query).scalar()
        with store.write() as conn:
            conn.execute(sa.update(_meta).where(_meta.c.key == KEY).values(value="after"))
        again = reading.execute(query).scalar()
    assert (first, again) == ("before", "before")
    assert stored(store) == "after"
