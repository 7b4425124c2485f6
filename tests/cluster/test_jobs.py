"""The jobs role in-process: one active among several, and its lease guarding every write
that must happen once (settlement, alert states and notices)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from poolstats.alerts.delivery import Delivery
from poolstats.alerts.evaluator import AlertEvaluator
from poolstats.clock import FakeClock
from poolstats.cluster.jobs import JOBS_LEASE, Jobs
from poolstats.cluster.leaseholder import Leaseholder
from poolstats.config import Settings
from poolstats.engine.work import UNITS_PER_DIFF, WorkRows
from poolstats.store import SqliteStore, leases, schema
from poolstats.store.alerts import AlertStore
from tests.nodes import until
from tests.store.helpers import make_flush

TTL = 0.6
DAY = 86400
SETTINGS = Settings(settle_after_s=0, pool_fee_rate="0", lease_ttl_s=TTL, alert_check_s=0.2)


def _book_yesterday(store: SqliteStore, now: float) -> int:
    """alice's 10 difficulty of work yesterday at network difficulty 1000, height 840000:
    10 / 1000 x 312,500,000 sat = 3,125,000 sat (PPS, no fee)."""
    yesterday = int(now) - int(now) % DAY - DAY
    puid = store.create_user("alice", yesterday).puid
    store.record_network(yesterday, "1000", 840_000, 0, "cli", yesterday)
    work = WorkRows(
        puid=[puid], day=[yesterday], net_at=[yesterday], diff_q=[10 * UNITS_PER_DIFF], capped=[0]
    )
    store.write_flush(make_flush(now=int(now), work=work))
    return yesterday


def _earnings(store: SqliteStore) -> list[tuple[int, int, int]]:
    e = schema.earnings
    with store.read() as conn:
        rows = conn.execute(sa.select(e.c.puid, e.c.day, e.c.amount_sat))
        return [(r.puid, r.day, r.amount_sat) for r in rows]


def test_one_of_two_jobs_is_active_and_the_other_takes_over_when_it_stops(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        with SqliteStore.open(tmp_path) as store:
            day = _book_yesterday(store, time.time())
            jobs = [Jobs(SETTINGS, store) for _ in range(2)]
            tasks = [asyncio.create_task(j.run()) for j in jobs]
            try:
                await until(lambda: _earnings(store) != [], 10, "the day settled")
                active = [j for j in jobs if j.active_since]
                assert len(active) == 1
                first = jobs.index(active[0])
                other = jobs[1 - first]
                tasks[first].cancel()  # a clean stop releases the lease
                await asyncio.gather(tasks[first], return_exceptions=True)
                await until(lambda: bool(other.active_since), TTL + 2, "the other to take over")
                await asyncio.sleep(3 * 0.2)  # its upkeep ran meanwhile: finds the day settled
                assert _earnings(store) == [(1, day, 3_125_000)]
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def test_a_jobs_process_whose_lease_was_taken_over_settles_nothing(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path) as store:
        day = _book_yesterday(store, time.time())
        clock = [time.time()]
        stale = Jobs(SETTINGS, store, lease=Leaseholder(store, JOBS_LEASE, TTL, holder="a"))
        assert stale.lease.try_once()
        # it pauses past its lease; another process takes the lease over
        with store.write() as conn:
            taken = leases.acquire(conn, JOBS_LEASE, "b", clock[0] + 2 * TTL, TTL)
        assert taken == 2
        with pytest.raises(leases.LeaseLost):
            stale.settler.settle_due()
        assert _earnings(store) == []
        with store.read() as conn:
            kept = conn.execute(sa.select(schema.work.c.day)).scalars().all()
        assert kept == [day]  # the work waits for the holder


def test_an_alert_check_refused_by_the_guard_records_and_sends_nothing(tmp_path: Path) -> None:
    class Refused(RuntimeError):
        pass

    def refuse(conn: sa.Connection) -> None:
        raise Refused

    now = 1_700_000_000
    with SqliteStore.open(tmp_path) as store:
        puid = store.create_user("alice", now).puid
        alerts = AlertStore(store)
        alerts.update_settings(puid, {"hashrate": "10", "hashrate_enabled": True}, now)
        clock = FakeClock(now)
        guarded = AlertEvaluator(store, SETTINGS, clock, Delivery(SETTINGS), guard=refuse)
        with pytest.raises(Refused):
            guarded.check()  # alice has no hashrate: a breach to record
        assert alerts.states() == {}
        plain = AlertEvaluator(store, SETTINGS, clock, Delivery(SETTINGS))
        plain.check()
        assert alerts.states() != {}  # the same check, unguarded, records the breach
