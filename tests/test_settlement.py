"""The one settlement rule of a node and of the jobs process (``poolstats.earnings.settlement``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from poolstats.clock import FakeClock
from poolstats.config import Settings
from poolstats.earnings.settlement import Settler, day_due
from poolstats.engine.work import UNITS_PER_DIFF, WorkRows
from poolstats.metrics import Metrics
from poolstats.store import SqliteStore, ledger, schema
from tests.store.helpers import make_flush

DAY = 86400
D0 = 19_700 * DAY  # a UTC midnight


def test_yesterday_is_due_once_settle_after_s_of_today_have_passed() -> None:
    assert day_due(D0 + 299, 300) is None
    assert day_due(D0 + 300, 300) == D0 - DAY
    assert day_due(D0 + DAY - 1, 300) == D0 - DAY
    assert day_due(D0, 0) == D0 - DAY


class Refused(RuntimeError):
    pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore.open(tmp_path) as s:
        puid = s.create_user("alice", D0).puid
        # 10 difficulty of work yesterday at network difficulty 1000, height 840000: PPS
        # without fee is 10 / 1000 x 312,500,000 sat
        s.record_network(D0 - DAY, "1000", 840_000, 0, "cli", D0 - DAY)
        work = WorkRows(
            puid=[puid], day=[D0 - DAY], net_at=[D0 - DAY], diff_q=[10 * UNITS_PER_DIFF], capped=[0]
        )
        s.write_flush(make_flush(now=D0, work=work))
        yield s


def _earnings(store: SqliteStore) -> list[tuple[int, int]]:
    with store.read() as conn:
        e = schema.earnings
        return [(r.day, r.amount_sat) for r in conn.execute(sa.select(e.c.day, e.c.amount_sat))]


def test_settler_settles_yesterday_once(store: SqliteStore) -> None:
    settings = Settings(settle_after_s=300, pool_fee_rate="0")
    clock = FakeClock(D0 + 299)
    settler = Settler(store, settings, clock, Metrics())
    assert settler.settle_due() is None  # not yet
    clock.set(D0 + 300)
    done = settler.settle_due()
    assert done is not None and (done.rows, done.total_sat) == (1, 3_125_000)
    assert settler.settle_due() is None  # known settled: not tried again
    again = Settler(store, settings, clock, Metrics())  # another process: finds it settled
    assert again.settle_due() is not None and _earnings(store) == [(D0 - DAY, 3_125_000)]


def test_a_guard_that_refuses_leaves_the_day_unsettled(store: SqliteStore) -> None:
    def refuse(conn: sa.Connection) -> None:
        raise Refused("not the lease holder")

    settings = Settings(settle_after_s=0, pool_fee_rate="0")
    settler = Settler(store, settings, FakeClock(D0 + 10), Metrics(), guard=refuse)
    with pytest.raises(Refused):
        settler.settle_due()
    assert _earnings(store) == []
    assert ledger.settled_through(store) is None
    with store.read() as conn:  # the work is still there for the next holder
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.work)).scalar() == 1
