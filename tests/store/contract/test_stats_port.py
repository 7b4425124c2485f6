"""The stats port's contract: snapshots and history as flushes write them, the stored
sequence, pruning (worker lists and open buckets: ``test_stats_port_*``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from poolstats.engine.snapshot import HistoryDelta, Level
from poolstats.store import SqliteStore
from poolstats.store.ports.stats import FlushWriter
from poolstats.store.sql import SqlStore
from tests.store.helpers import (
    D0,
    DAY,
    H0,
    HOUR,
    NOW,
    add_failing_trigger,
    delta,
    drop_trigger,
    f64,
    i64,
    make_flush,
    raw,
)

# --- realtime snapshots ---------------------------------------------------------------------


def test_reads_are_empty_before_any_flush(store: SqliteStore) -> None:
    assert store.worker(1, 1) is None
    assert store.workers(1) == []
    assert store.subaccount_stats(1) is None
    assert store.pool_stats() is None
    assert store.history_seq() == 0
    assert store.history(Level.WORKER, HOUR, 1, 1) == []
    assert store.history(Level.POOL, HOUR) == []


def test_write_flush_second_flush_overwrites_absolute_values(store: SqliteStore) -> None:
    first = make_flush(
        now=NOW,
        workers=[
            {
                "puid": 1,
                "worker_id": 10,
                "name": "rig1",
                "ip": "10.0.0.1",
                "sums": {"accept_1m": 65536.0, "accept_15m": 1e6, "stale_5m": 2.5},
                "accept_count": 7,
                "reject_count": 1,
                "last_share_time": NOW - 3,
                "last_accept_time": NOW - 4,
            },
            {"puid": 1, "worker_id": -5, "name": "rig2"},
        ],
        subaccounts=[{"puid": 1, "sums": {"accept_1h": 123.0}, "workers_active": 2}],
        pool={"sums": {"accept_1d": 9e9}, "workers_active": 2, "users_active": 1},
    )
    store.write_flush(first)
    w = store.worker(1, 10)
    assert w is not None
    assert (w["worker_name"], w["last_share_ip"], w["group_id"]) == ("rig1", "10.0.0.1", -1)
    assert (w["accept_1m"], w["accept_15m"], w["stale_5m"], w["reject_1m"]) == (
        65536.0,
        1e6,
        2.5,
        0.0,
    )
    assert (w["accept_count"], w["reject_count"]) == (7, 1)
    assert (w["last_share_time"], w["last_accept_time"]) == (NOW - 3, NOW - 4)
    assert (w["created_at"], w["updated_at"]) == (NOW, NOW)
    assert [r["worker_id"] for r in store.workers(1)] == [-5, 10]

    second = make_flush(
        now=NOW + 15,
        workers=[
            {
                "puid": 1,
                "worker_id": 10,
                "name": "rig1b",
                "ip": "10.0.0.2",
                "sums": {"accept_1m": 1.0},
                "accept_count": 9,
                "reject_count": 1,
                "last_share_time": NOW + 10,
                "last_accept_time": NOW + 10,
            },
        ],
        subaccounts=[{"puid": 1, "sums": {"accept_1h": 50.0}, "workers_active": 1}],
        pool={"sums": {"accept_1d": 1.0}, "workers_active": 1, "users_active": 1},
    )
    store.write_flush(second)
    w = store.worker(1, 10)
    assert w is not None
    assert (w["worker_name"], w["last_share_ip"]) == ("rig1b", "10.0.0.2")
    assert (w["accept_1m"], w["accept_15m"], w["stale_5m"]) == (1.0, 0.0, 0.0)
    assert (w["accept_count"], w["last_share_time"]) == (9, NOW + 10)
    assert (w["created_at"], w["updated_at"]) == (NOW, NOW + 15)
    untouched = store.worker(1, -5)
    assert untouched is not None and untouched["updated_at"] == NOW
    sub = store.subaccount_stats(1)
    assert sub is not None
    assert (sub["accept_1h"], sub["workers_active"], sub["updated_at"]) == (50.0, 1, NOW + 15)
    pool = store.pool_stats()
    assert pool is not None
    assert (pool["accept_1d"], pool["workers_active"], pool["users_active"]) == (1.0, 1, 1)


def test_deleted_worker_returns_to_default_group_when_it_shares_again(
    store: SqliteStore,
) -> None:
    workers = [
        {"puid": 1, "worker_id": 1, "last_share_time": NOW},
        {"puid": 1, "worker_id": 2, "last_share_time": NOW},
        {"puid": 1, "worker_id": 3, "last_share_time": NOW},
    ]
    store.write_flush(make_flush(workers=workers))
    with raw(store) as conn:  # what the API's "delete worker" / "move to group" will do
        conn.execute("UPDATE workers SET group_id = 0 WHERE worker_id IN (1, 2)")
        conn.execute("UPDATE workers SET group_id = 7 WHERE worker_id = 3")

    # Re-sent without a newer share (e.g. a window sum decayed): stays deleted.
    store.write_flush(make_flush(now=NOW + 15, workers=workers))
    assert [w["group_id"] for w in store.workers(1)] == [0, 0, 7]

    newer = [{**w, "last_share_time": NOW + 20} for w in workers if w["worker_id"] != 2]
    store.write_flush(make_flush(now=NOW + 30, workers=newer))
    assert [w["group_id"] for w in store.workers(1)] == [-1, 0, 7]


# --- history --------------------------------------------------------------------------------


def test_history_increments_add_up_across_flushes(store: SqliteStore) -> None:
    rng = np.random.default_rng(42)
    expected: dict[tuple[Level, int, int, int, int], np.ndarray[Any, Any]] = defaultdict(
        lambda: np.zeros(3)
    )
    keys = [(1, 11), (1, 12), (2, 21)]
    for seq in range(1, 9):
        now = NOW + seq * 900  # crosses hour boundaries, stays within a day or two
        deltas = []
        for level, period in (
            (Level.WORKER, HOUR),
            (Level.WORKER, DAY),
            (Level.SUBACCOUNT, HOUR),
            (Level.POOL, HOUR),
        ):
            start = now - now % period
            rows = []
            for puid, wid in keys if level is not Level.POOL else [(0, 0)]:
                if level is Level.SUBACCOUNT:
                    wid = 0
                a, s, r = (float(x) for x in rng.integers(0, 1000, 3))
                rows.append((puid, wid, start, a, s, r))
                expected[(level, period, puid, wid, start)] += (a, s, r)
            deltas.append(delta(level, period, rows))
        store.write_flush(make_flush(now=now, seq=seq, history=deltas))

    for (level, period, puid, wid, start), (a, s, r) in expected.items():
        got = store.history(level, period, puid, wid, start, start + 1)
        assert len(got) == 1, (level, period, puid, wid, start)
        assert (got[0]["accept"], got[0]["stale"], got[0]["reject"]) == (a, s, r)
    hours = sorted({k[4] for k in expected if k[0] is Level.WORKER and k[1] == HOUR})
    assert [r["start"] for r in store.history(Level.WORKER, HOUR, 1, 11)] == hours
    assert store.history_seq() == 8


def test_history_range_is_half_open_and_per_key(store: SqliteStore) -> None:
    rows = [(1, 5, H0 + i * HOUR, float(i), 0.0, 0.0) for i in range(5)]
    rows += [(1, 6, H0, 100.0, 0.0, 0.0), (2, 5, H0, 200.0, 0.0, 0.0)]
    subs = [(1, 0, H0 + i * HOUR, float(i), 0.0, 0.0) for i in range(3)]
    pools = [(0, 0, H0 + i * HOUR, float(i), 0.0, 0.0) for i in range(3)]
    store.write_flush(
        make_flush(
            history=[
                delta(Level.WORKER, HOUR, rows),
                delta(Level.WORKER, DAY, [(1, 5, D0, 9.0, 0.0, 0.0)]),
                delta(Level.SUBACCOUNT, HOUR, subs),
                delta(Level.POOL, HOUR, pools),
            ]
        )
    )
    got = store.history(Level.WORKER, HOUR, 1, 5, H0 + HOUR, H0 + 3 * HOUR)
    assert [(r["start"], r["accept"]) for r in got] == [(H0 + HOUR, 1.0), (H0 + 2 * HOUR, 2.0)]
    # A start_from between buckets begins at the next bucket; the default range is all.
    got = store.history(Level.WORKER, HOUR, 1, 5, H0 + 1)
    assert [r["accept"] for r in got] == [1.0, 2.0, 3.0, 4.0]
    assert [r["accept"] for r in store.history(Level.WORKER, HOUR, 1, 6)] == [100.0]
    assert [r["accept"] for r in store.history(Level.WORKER, DAY, 1, 5)] == [9.0]
    assert store.history(Level.WORKER, HOUR, 3, 5) == []
    # worker_id 0 (never a real id): every worker of the puid, by (start, worker_id)
    got = store.history(Level.WORKER, HOUR, 1, start_to=H0 + 2 * HOUR)
    assert [(r["start"], r["worker_id"]) for r in got] == [(H0, 5), (H0, 6), (H0 + HOUR, 5)]
    got = store.history(Level.SUBACCOUNT, HOUR, 1, start_to=H0 + 2 * HOUR)
    assert [(r["puid"], r["accept"]) for r in got] == [(1, 0.0), (1, 1.0)]
    got = store.history(Level.POOL, HOUR, start_from=H0 + HOUR)
    assert [(r["start"], r["accept"]) for r in got] == [(H0 + HOUR, 1.0), (H0 + 2 * HOUR, 2.0)]


def test_history_seq_is_set_with_the_flush_and_never_lowered(store: SqliteStore) -> None:
    assert store.history_seq() == 0
    store.write_flush(make_flush(seq=5))
    assert store.history_seq() == 5
    store.write_flush(make_flush(seq=3))
    assert store.history_seq() == 5
    store.write_flush(make_flush(seq=12))
    assert store.history_seq() == 12


def test_the_pool_adds_up_its_writers_until_a_lowered_partition_count_retires_some(
    store: SqliteStore,
) -> None:
    """Three partitions' aggregators each write a pool row; with the count lowered to two,
    the third one's row is gone from the pool's figures (and from the table)."""
    for k, workers in enumerate((3, 5, 7)):
        flush = make_flush(seq=k + 1, pool={"workers_active": workers, "users_active": 1})
        store.write_flush(flush, FlushWriter(partition=k))
    pool = store.pool_stats()
    assert pool is not None and (pool["workers_active"], pool["users_active"]) == (15, 3)
    assert store.retire_writers(3) == 0
    assert store.retire_writers(2) == 1
    pool = store.pool_stats()
    assert pool is not None and (pool["workers_active"], pool["users_active"]) == (8, 2)
    assert store.retire_writers(1) == 1
    pool = store.pool_stats()
    assert pool is not None and pool["workers_active"] == 3


def test_failed_flush_leaves_nothing_behind(store: SqliteStore) -> None:
    store.write_flush(
        make_flush(
            seq=1,
            workers=[{"puid": 1, "worker_id": 1, "sums": {"accept_1m": 1.0}}],
            history=[delta(Level.WORKER, HOUR, [(1, 1, H0, 1.0, 0.0, 0.0)])],
        )
    )
    # make the last statement of the next flush fail in the database
    add_failing_trigger(store, "boom", "INSERT", "history_pool")
    broken = make_flush(
        now=NOW + 15,
        seq=2,
        workers=[{"puid": 1, "worker_id": 1, "sums": {"accept_1m": 2.0}}],
        pool={"workers_active": 1},
        history=[
            delta(Level.WORKER, HOUR, [(1, 1, H0, 1.0, 0.0, 0.0)]),
            delta(Level.POOL, HOUR, [(0, 0, H0, 1.0, 0.0, 0.0)]),
        ],
    )
    with pytest.raises(sa.exc.IntegrityError, match="boom"):
        store.write_flush(broken)
    w = store.worker(1, 1)
    assert w is not None and (w["accept_1m"], w["updated_at"]) == (1.0, NOW)
    assert [r["accept"] for r in store.history(Level.WORKER, HOUR, 1, 1)] == [1.0]
    assert store.history_seq() == 1
    pool = store.pool_stats()
    assert pool is not None and pool["workers_active"] == 0
    drop_trigger(store, "boom", "history_pool")
    store.write_flush(broken)  # the store is still usable afterwards
    assert [r["accept"] for r in store.history(Level.WORKER, HOUR, 1, 1)] == [2.0]
    assert store.history_seq() == 2


@pytest.mark.parametrize(
    "bad",
    [
        delta(Level.WORKER, HOUR, [(1, 1, H0 + 1, 1.0, 0.0, 0.0)]),  # start not on a bucket
        HistoryDelta(
            Level.WORKER, HOUR, i64([1]), i64([1, 2]), i64([H0]), f64([1.0]), f64([0.0]), f64([0.0])
        ),  # ragged
        delta(Level.POOL, HOUR, [(0, 0, H0, float("nan"), 0.0, 0.0)]),  # would bind as NULL
    ],
)
def test_write_flush_rejects_malformed_history(store: SqliteStore, bad: HistoryDelta) -> None:
    with pytest.raises(ValueError, match="history"):
        store.write_flush(make_flush(seq=4, history=[bad]))
    assert store.history_seq() == 0


def test_write_flush_rejects_nan_window_sum(store: SqliteStore) -> None:
    nan = make_flush(seq=4, workers=[{"puid": 1, "worker_id": 1, "sums": {"reject_5m": np.nan}}])
    with pytest.raises(ValueError, match="workers: reject_5m"):
        store.write_flush(nan)
    assert store.worker(1, 1) is None


def test_prune_deletes_buckets_older_than_retention(store: SqliteStore) -> None:
    hours = [H0 - i * HOUR for i in range(6)]  # now-ish back to 5 hours ago
    days = [D0 - i * DAY for i in range(3)]
    store.write_flush(
        make_flush(
            history=[
                delta(
                    Level.WORKER, HOUR, [(1, w, h, 1.0, 0.0, 0.0) for h in hours for w in (1, 2)]
                ),
                delta(Level.WORKER, DAY, [(1, 1, d, 1.0, 0.0, 0.0) for d in days]),
                delta(Level.SUBACCOUNT, HOUR, [(1, 0, h, 1.0, 0.0, 0.0) for h in hours]),
                delta(Level.POOL, HOUR, [(0, 0, h, 1.0, 0.0, 0.0) for h in hours]),
            ]
        )
    )
    now = H0 + 10
    deleted = store.prune(
        now,
        {
            (Level.WORKER, HOUR): 3 * HOUR,  # keeps starts >= H0 - 2h50m: H0, H0-1h, H0-2h
            (Level.WORKER, DAY): None,
            (Level.SUBACCOUNT, HOUR): HOUR,  # keeps H0
            # pool/hour not listed: kept
        },
    )
    assert deleted == 3 * 2 + 5
    assert [r["start"] for r in store.history(Level.WORKER, HOUR, 1, 2)] == sorted(hours[:3])
    assert len(store.history(Level.WORKER, DAY, 1, 1)) == 3
    assert [r["start"] for r in store.history(Level.SUBACCOUNT, HOUR, 1)] == [H0]
    assert len(store.history(Level.POOL, HOUR)) == 6
    assert store.prune(now, {(Level.WORKER, HOUR): 3 * HOUR}) == 0


def test_concurrent_flushes_and_writes_all_land(store: SqlStore) -> None:
    """Writers from many threads at once (on PostgreSQL: many pooled connections): every
    history delta is added, every user made, and the sequence ends at the highest seq."""
    from concurrent.futures import ThreadPoolExecutor

    def flush(seq: int) -> None:
        store.write_flush(
            make_flush(
                seq=seq,
                workers=[{"puid": 1, "worker_id": seq}],
                history=[delta(Level.WORKER, HOUR, [(1, 1, H0, float(seq), 0.0, 0.0)])],
            )
        )

    def user(i: int) -> int:
        return store.create_user(f"user{i}", NOW).puid

    with ThreadPoolExecutor(8) as pool:
        flushed = [pool.submit(flush, seq) for seq in range(1, 21)]
        made = [pool.submit(user, i) for i in range(10)]
        for f in flushed:
            f.result()
        puids = sorted(f.result() for f in made)
    assert [r["accept"] for r in store.history(Level.WORKER, HOUR, 1, 1)] == [sum(range(1, 21))]
    assert store.history_seq() == 20
    assert puids == list(range(1, 11))
    assert len(store.workers(1)) == 20


def test_a_bucket_repeated_within_one_delta_gets_every_increment(store: SqlStore) -> None:
    rows = [(1, 1, H0, 1.0, 0.5, 0.0), (1, 2, H0, 4.0, 0.0, 0.0), (1, 1, H0, 2.0, 0.0, 0.25)]
    for seq in (1, 2):  # inserted, then added to
        store.write_flush(make_flush(seq=seq, history=[delta(Level.WORKER, HOUR, rows)]))
    got = {
        r["worker_id"]: (r["accept"], r["stale"], r["reject"])
        for r in store.history(Level.WORKER, HOUR, 1)
    }
    assert got == {1: (6.0, 1.0, 0.5), 2: (8.0, 0.0, 0.0)}
