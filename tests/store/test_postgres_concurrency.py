"""Flushes of different partitions run at once on PostgreSQL; every other writer waits for
them. Real threads on real connections: one flush is held open inside its lease check (its
``FlushWriter.guard``) while the other writers go; what each waits on is read from
``pg_locks``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from poolstats.engine.snapshot import Flush, Level
from poolstats.engine.work import UNITS_PER_DIFF, WorkRows
from poolstats.store import ledger, schema
from poolstats.store.base import FlushWriter
from poolstats.store.postgres import PostgresStore
from tests.nodes import wait_for
from tests.store.helpers import DAY, HOUR, delta, make_flush

D0 = 19_700 * DAY  # a UTC day start
NOW = D0 + 3 * DAY + 600
WAIT_S = 30


@pytest.fixture
def stores(pg_url: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database, as two aggregator processes have."""
    with PostgresStore.open(pg_url) as a, PostgresStore.open(pg_url) as b:
        yield a, b


def partition_flush(puid: int, seq: int, pool: float | None, work: WorkRows | None = None) -> Flush:
    """A flush of one sub-account's two workers, with history at every level (the pool's
    only when ``pool`` is given: the one row partitions share)."""
    start = NOW - NOW % HOUR
    history = [
        delta(Level.WORKER, HOUR, [(puid, 1, start, 1.0, 0, 0), (puid, 2, start, 2.0, 0, 0)]),
        delta(Level.SUBACCOUNT, HOUR, [(puid, 0, start, 3.0, 0, 0)]),
    ]
    if pool is not None:
        history.append(delta(Level.POOL, HOUR, [(0, 0, start, pool, 0, 0)]))
    workers = [{"puid": puid, "worker_id": w, "accept_count": 10 * puid + w} for w in (1, 2)]
    return make_flush(
        now=NOW,
        seq=seq,
        workers=workers,
        subaccounts=[{"puid": puid, "workers_active": 2}],
        history=history,
        **({"work": work} if work is not None else {}),
    )


class Held:
    """A flush of ``partition`` on its own thread, held open inside its guard until
    ``release``: its transaction has written everything and not committed."""

    def __init__(self, store: PostgresStore, flush: Flush, partition: int) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.error: BaseException | None = None

        def guard(conn: sa.Connection) -> None:
            self.entered.set()
            if not self.released.wait(WAIT_S * 2):
                raise TimeoutError("never released")

        self.thread = threading.Thread(
            target=self._run, args=(store.write_flush, flush, FlushWriter(partition, guard))
        )
        self.thread.start()
        wait_for(self.entered.is_set, WAIT_S, f"partition {partition}'s flush to reach its guard")

    def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:
            self.error = exc

    def release(self) -> None:
        self.released.set()
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive() and self.error is None, self.error


class Background:
    """``fn(*args)`` on a thread; ``done`` once it returned."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = fn(*args)
            except BaseException as exc:
                self.error = exc
            finally:
                self.done.set()

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def join(self) -> Any:
        self.thread.join(WAIT_S)
        assert self.done.is_set() and self.error is None, self.error
        return self.result


def lock_waits(url: str) -> list[tuple[str, str]]:
    """(lock type, statement) of every backend of the database waiting for a lock."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT l.locktype, a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE NOT l.granted AND a.datname = current_database()"
        ).fetchall()


def seq(partition: int) -> str:
    return schema.partition_seq_key(partition)


def pool_hour(store: PostgresStore) -> float:
    start = NOW - NOW % HOUR
    return float(sum(r["accept"] for r in store.history(Level.POOL, HOUR, 0, 0, start, start + 1)))


def test_partitions_flush_at_once_and_both_commit(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    a, b = stores
    held = Held(a, partition_flush(puid=1, seq=7, pool=None), partition=0)
    try:
        # Under one exclusive write lock the second flush would wait for the first's commit.
        other = Background(b.write_flush, partition_flush(puid=2, seq=9, pool=None), FlushWriter(1))
        wait_for(
            lambda: other.done.is_set() or bool(lock_waits(pg_url)),
            WAIT_S,
            "partition 1's flush to commit or to wait",
        )
        assert other.done.is_set(), lock_waits(pg_url)
        other.join()
        assert (b.history_seq(seq(1)), b.history_seq(seq(0))) == (9, 0)  # 0's is not committed
    finally:
        held.release()
    assert a.history_seq(seq(0)) == 7
    with a.read() as conn:
        rows = conn.execute(sa.select(schema.workers.c.puid, schema.workers.c.accept_count))
        assert sorted(rows) == [(1, 11), (1, 12), (2, 21), (2, 22)]
    for puid in (1, 2):
        assert sum(r["accept"] for r in a.history(Level.WORKER, HOUR, puid, 0)) == 3.0
        assert [r["accept"] for r in a.history(Level.SUBACCOUNT, HOUR, puid, 0)] == [3.0]


def test_partitions_wait_for_each_other_only_at_the_shared_pool_history_row(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    a, b = stores
    held = Held(a, partition_flush(puid=1, seq=1, pool=5.0), partition=0)
    try:
        other = Background(b.write_flush, partition_flush(puid=2, seq=1, pool=7.0), FlushWriter(1))
        wait_for(lambda: bool(lock_waits(pg_url)), WAIT_S, "partition 1's flush to wait")
        # it got through everything of its own and waits at the pool's history row, last
        [(locktype, statement)] = lock_waits(pg_url)
        assert locktype == "transactionid"
        assert statement.startswith("INSERT INTO history_pool"), statement
        assert not other.done.is_set()
    finally:
        held.release()
    other.join()
    assert pool_hour(a) == 12.0  # both increments, neither lost
    assert (a.history_seq(seq(0)), a.history_seq(seq(1))) == (1, 1)


def test_a_settlement_waits_for_a_flush_in_flight_and_then_settles_its_work(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    a, b = stores
    alice = b.create_user("alice", D0).puid
    b.record_network(D0, "4000", 840_000, 0, "cli", D0)
    work = WorkRows(puid=[alice], day=[D0], net_at=[D0], diff_q=[1000 * UNITS_PER_DIFF], capped=[0])
    held = Held(a, partition_flush(puid=alice, seq=3, pool=1.0, work=work), partition=0)
    try:
        settling = Background(ledger.settle, b, D0, NOW, Fraction(2, 100))
        wait_for(lambda: bool(lock_waits(pg_url)), WAIT_S, "the settlement to wait")
        assert [w[0] for w in lock_waits(pg_url)] == ["advisory"]  # the write lock
        assert not settling.done.is_set()
    finally:
        held.release()
    done = settling.join()
    # the flush's work, settled: 1000/4000 of a 312,500,000 sat block, less the 2 % fee
    assert (done.days, done.total_sat) == ([D0], 76_562_500)


def test_two_flushes_needing_the_same_new_partition_make_it_once_and_both_commit(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    a, b = stores
    held = Held(a, partition_flush(puid=1, seq=1, pool=None), partition=0)
    later = NOW + 40 * DAY  # a day (and month) whose history partitions do not exist yet
    start = later - later % HOUR

    def flush(puid: int) -> Flush:
        rows = [(puid, 1, start, float(puid), 0, 0)]
        return make_flush(now=later, seq=1, history=[delta(Level.WORKER, HOUR, rows)])

    try:
        # one creates (and waits for the flush in flight to let go of the parent table), the
        # other waits for it; neither holds anything of a flush's meanwhile
        first = Background(b.write_flush, flush(2), FlushWriter(1))
        second = Background(a.write_flush, flush(3), FlushWriter(2))
        wait_for(lambda: len(lock_waits(pg_url)) == 2, WAIT_S, "both to wait")
        waits = sorted(lock_waits(pg_url))
        assert [w[0] for w in waits] == ["advisory", "relation"], waits
        assert waits[1][1].startswith("CREATE TABLE IF NOT EXISTS history_worker_p3600_")
    finally:
        held.release()
    first.join()
    second.join()
    for puid in (2, 3):
        got = a.history(Level.WORKER, HOUR, puid, 1, start, start + 1)
        assert [r["accept"] for r in got] == [float(puid)]
