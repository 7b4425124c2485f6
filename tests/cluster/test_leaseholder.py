"""Leaseholder: one holder at a time; a standby takes over once the holder stops renewing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from poolstats.cluster.leaseholder import Leaseholder
from poolstats.store import leases
from poolstats.store.sqlite import DB_FILE, SqliteStore

TTL = 0.6


async def until(condition: object, deadline_s: float) -> float:
    """Seconds until ``condition()`` holds; fails the test past the deadline."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < deadline_s, "condition not met in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def test_a_standby_takes_over_within_the_lease_time_once_the_holder_stops(tmp_path: Path) -> None:
    async def main() -> None:
        with SqliteStore.open(tmp_path) as store:
            a = Leaseholder(store, "aggregate/0", TTL, holder="a")
            b = Leaseholder(store, "aggregate/0", TTL, holder="b")
            assert a.try_once() and not b.try_once()
            runner_b = asyncio.create_task(b.run())
            renewals = 0
            while renewals < 5:  # the holder renews: the standby never gets in meanwhile
                await asyncio.sleep(a.renew_s)
                assert a.try_once() and not b.held
                renewals += 1
            stopped = time.monotonic()  # a stops renewing, as if killed
            await until(lambda: b.held, TTL + 1.0)
            took = time.monotonic() - stopped
            assert TTL - a.renew_s <= took <= TTL + b.poll_s + 0.5
            assert b.epoch == 2 and not a.held
            with store.write() as conn, pytest.raises(leases.LeaseLost):
                leases.check(conn, a.name, a.holder, 1)  # a's write, were it to try one
            runner_b.cancel()
            await asyncio.gather(runner_b, return_exceptions=True)
            assert b.epoch == 0  # released on the way out
            assert a.try_once() and a.epoch == 3  # so a takes it at once, with a new epoch

    asyncio.run(main())


def test_a_holder_that_cannot_reach_the_store_stops_holding_before_the_lease_expires(
    tmp_path: Path,
) -> None:
    with SqliteStore.open(tmp_path) as store:
        a = Leaseholder(store, "jobs", TTL, holder="a")
        assert a.try_once()
        renewed = time.monotonic()
        store.close()
        db = tmp_path / DB_FILE
        db.rename(tmp_path / "moved")  # every write now fails: the path is a folder
        db.mkdir()
        while a.try_once():
            assert time.monotonic() - renewed < TTL
        assert time.monotonic() - renewed >= TTL - a.poll_s  # tried at least that long
        assert not a.held and a.epoch == 0
