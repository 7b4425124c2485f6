"""SqliteStore against a real SQLite file in tmp_path: schema, accounts, flushes, history."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from poolstats.domain.history_partitions import partition_range
from poolstats.engine.snapshot import Flush, HistoryDelta, Level
from poolstats.store import SqliteStore, UserExists
from poolstats.store.base import KeyGrant
from poolstats.store.postgres import PostgresStore
from poolstats.store.schema import metadata
from poolstats.store.sql import SqlStore
from poolstats.store.sqlite import DB_FILE, MIGRATIONS_DIR
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

# --- schema and migrations ------------------------------------------------------------------


def newest_revision() -> str:
    """The revision of the highest-numbered migration file."""
    return sorted(p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))[-1]


def test_open_creates_schema_and_pragmas_on_fresh_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    with SqliteStore.open(data_dir) as store:
        assert store.path == data_dir / DB_FILE
        with raw(store) as conn:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        with store._reader.connect() as c:
            fk = c.exec_driver_sql("PRAGMA foreign_keys").scalar()
            busy = c.exec_driver_sql("PRAGMA busy_timeout").scalar()
            sync = c.exec_driver_sql("PRAGMA synchronous").scalar()
    assert set(metadata.tables) <= tables
    assert [tuple(v) for v in version] == [(newest_revision(),)]
    assert journal == "wal"
    assert (fk, busy, sync) == (1, 10_000, 1)  # synchronous 1 = NORMAL


def test_open_twice_is_a_noop_and_keeps_data(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path) as store:
        user = store.create_user("alice", NOW)
        with raw(store) as conn:
            before = conn.execute(
                "SELECT type, name, sql FROM sqlite_master ORDER BY name"
            ).fetchall()
    with SqliteStore.open(tmp_path) as store:
        assert store.subaccounts() == {"alice": user.puid}
        with raw(store) as conn:
            after = conn.execute(
                "SELECT type, name, sql FROM sqlite_master ORDER BY name"
            ).fetchall()
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


def test_migrated_schema_matches_metadata(store: SqlStore) -> None:
    with store.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_open_concurrently_on_fresh_dir_migrates_once(tmp_path: Path) -> None:
    script = "import sys; from pathlib import Path; from poolstats.store import SqliteStore\n"
    script += "SqliteStore.open(Path(sys.argv[1])).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    with SqliteStore.open(tmp_path) as store, raw(store) as conn:
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert [tuple(v) for v in versions] == [(newest_revision(),)]


# --- accounts -------------------------------------------------------------------------------


def test_create_user_round_trip(store: SqliteStore) -> None:
    alice = store.create_user("alice", NOW)
    bob = store.create_user("Bob_2-x", NOW + 1)
    assert (alice.puid, alice.user_name) == (1, "alice")
    assert (bob.puid, bob.user_name) == (2, "Bob_2-x")
    assert store.subaccounts() == {"alice": 1, "Bob_2-x": 2}
    assert store.key_grant(alice.access_key) == KeyGrant(account_id=1, puids=(1,), read_only=False)
    assert store.key_grant(bob.access_key) == KeyGrant(account_id=2, puids=(2,), read_only=False)
    assert alice.access_key != bob.access_key
    assert len(alice.access_key) == 32  # token_urlsafe(24)
    assert alice.access_key not in repr(alice)


def test_puid_of_and_subaccount_exists_look_up_one_subaccount(store: SqliteStore) -> None:
    bob = store.create_user("bob", NOW)
    assert store.puid_of("bob") == bob.puid
    assert store.puid_of("Bob") is None  # names match exactly
    assert store.subaccount_exists(bob.puid) is True
    assert store.subaccount_exists(bob.puid + 1) is False


def test_create_user_rejects_taken_name(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    with pytest.raises(UserExists, match="already taken"):
        store.create_user("alice", NOW)
    assert issubclass(UserExists, ValueError)
    assert store.subaccounts() == {"alice": 1}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("a" * 65, "65 characters"),
        ("bad name", "' '"),
        ("dot.ted", "'.'"),
        ("üser", "'ü'"),
        ("a/b;c", "'/;'"),
    ],
)
def test_create_user_rejects_invalid_name(store: SqliteStore, name: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        store.create_user(name, NOW)
    assert not isinstance(info.value, UserExists)
    assert store.subaccounts() == {}


def test_create_user_accepts_64_character_name(store: SqliteStore) -> None:
    assert store.create_user("x" * 64, NOW).user_name == "x" * 64


def test_access_key_is_stored_only_as_sha256(store: SqliteStore) -> None:
    user = store.create_user("alice", NOW)
    with raw(store) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM access_keys")]
        dump = "\n".join(conn.iterdump())
    assert len(rows) == 1
    assert rows[0]["key_hash"] != user.access_key
    assert rows[0]["key_hash"] == hashlib.sha256(user.access_key.encode()).hexdigest()
    assert rows[0]["read_only"] == 0 and rows[0]["revoked_at"] is None
    assert user.access_key not in dump


def test_key_grant_unknown_key_opens_nothing(store: SqliteStore) -> None:
    user = store.create_user("alice", NOW)
    assert store.key_grant("") is None
    assert store.key_grant(user.access_key + "x") is None
    assert store.key_grant(hashlib.sha256(user.access_key.encode()).hexdigest()) is None


def test_revoked_key_opens_nothing(store: SqliteStore) -> None:
    alice = store.create_user("alice", NOW)
    bob = store.create_user("bob", NOW)
    assert store.revoke_key(alice.access_key, NOW + 5) is True
    assert store.revoke_key(alice.access_key, NOW + 6) is False  # already revoked
    assert store.revoke_key("no-such-key", NOW + 6) is False
    assert store.key_grant(alice.access_key) is None
    grant = store.key_grant(bob.access_key)
    assert grant is not None and grant.puids == (bob.puid,)
    with raw(store) as conn:
        revoked = conn.execute("SELECT revoked_at FROM access_keys WHERE account_id = 1").fetchone()
    assert revoked[0] == NOW + 5


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


# --- concurrency ----------------------------------------------------------------------------

_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from poolstats.store import SqliteStore
    store = SqliteStore.open(Path(sys.argv[1]))
    for i in range(int(sys.argv[3])):
        store.create_user(f"{sys.argv[2]}{i}", 1_700_000_000)
    store.close()
    """
)


def test_concurrent_writers_do_not_hit_database_locked(tmp_path: Path) -> None:
    n_users = 15
    big = make_flush(
        workers=[{"puid": 1 + i % 50, "worker_id": i + 1} for i in range(20_000)],
        history=[
            delta(
                Level.WORKER, HOUR, [(1 + i % 50, i + 1, H0, 1.0, 0.0, 0.0) for i in range(20_000)]
            )
        ],
    )
    with SqliteStore.open(tmp_path) as server, SqliteStore.open(tmp_path) as second:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OTHER_PROCESS, str(tmp_path), prefix, str(n_users)],
                stderr=subprocess.PIPE,
            )
            for prefix in ("cli_a", "cli_b")
        ]
        errors: list[BaseException] = []

        def other_instance() -> None:
            try:
                for i in range(n_users):
                    second.create_user(f"thread{i}", NOW)
                    second.write_flush(make_flush(seq=1000 + i))
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=other_instance)
        thread.start()
        for seq in range(1, 6):
            server.write_flush(
                Flush(big.now + seq, seq, big.workers, big.subaccounts, big.pool, big.history)
            )
            assert server.subaccounts() is not None  # reads alongside the writers
        thread.join(timeout=120)
        stderr = [p.communicate(timeout=120)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], stderr
        assert errors == []
        names = server.subaccounts()
        assert len(names) == 3 * n_users
        assert sorted(names.values()) == list(range(1, 3 * n_users + 1))
        got = server.history(Level.WORKER, HOUR, 1, 1)
        assert [r["accept"] for r in got] == [5.0]
        assert server.history_seq() == 1000 + n_users - 1


def test_peek_data_id_raises_a_held_lock_and_says_none_only_without_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database locked by another connection past the busy timeout is an error, not "no
    id" (which would let a start skip the check that the database is this folder's)."""
    import sqlite3

    from poolstats.store import sqlite as sqlite_module

    with SqliteStore.open(tmp_path) as store:
        data_id = store.data_id()
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError):
            sqlite_module.peek_data_id(tmp_path)
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert sqlite_module.peek_data_id(tmp_path) == data_id

    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / DB_FILE)
    db.execute("CREATE TABLE t (x)")
    db.close()
    assert sqlite_module.peek_data_id(other) is None


# --- PostgreSQL's history partitions -------------------------------------------------------


def partitions(store: PostgresStore, table: str) -> set[str]:
    with raw(store) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(? AS regclass)",
            (table,),
        ).fetchall()
    return {r[0] for r in rows}


def test_postgres_flush_makes_day_and_month_partitions_and_the_next_ahead(pg_url: str) -> None:
    with PostgresStore.open(pg_url) as store:
        _postgres_flush_makes_day_and_month_partitions_and_the_next_ahead(store)


def _postgres_flush_makes_day_and_month_partitions_and_the_next_ahead(store: PostgresStore) -> None:
    store.write_flush(
        make_flush(
            history=[
                delta(Level.WORKER, HOUR, [(1, 1, H0, 1.0, 0.0, 0.0)]),
                delta(Level.WORKER, DAY, [(1, 1, D0, 2.0, 0.0, 0.0)]),
            ]
        )
    )
    month = partition_range(DAY, D0)
    assert partitions(store, "history_worker") == {
        f"history_worker_p3600_{D0}",
        f"history_worker_p3600_{D0 + DAY}",  # made ahead for the next day's first flush
        f"history_worker_p86400_{month[0]}",
        f"history_worker_p86400_{month[1]}",
    }
    assert [r["accept"] for r in store.history(Level.WORKER, DAY, 1, 1)] == [2.0]


def test_postgres_prune_drops_old_partitions_and_trims_the_boundary_one(pg_url: str) -> None:
    with PostgresStore.open(pg_url) as store:
        _postgres_prune_drops_old_partitions_and_trims_the_boundary_one(store)


def _postgres_prune_drops_old_partitions_and_trims_the_boundary_one(store: PostgresStore) -> None:
    days = [D0 - i * DAY for i in range(4)]  # 4 days, 3 hourly buckets each, 2 workers
    rows = [(1, w, d + h * HOUR, 1.0, 0.0, 0.0) for d in days for h in (0, 11, 23) for w in (1, 2)]
    store.write_flush(make_flush(history=[delta(Level.WORKER, HOUR, rows)]))
    cutoff = D0 - 2 * DAY + 12 * HOUR  # inside the day two days back, after its hour 11
    deleted = store.prune(cutoff, {(Level.WORKER, HOUR): 0})
    kept = [r for r in rows if r[2] >= cutoff]
    assert deleted == len(rows) - len(kept) == 2 * 3 + 2 * 2  # a whole day, 2 of the next
    names = partitions(store, "history_worker")
    assert f"history_worker_p3600_{D0 - 3 * DAY}" not in names  # wholly older: dropped
    assert f"history_worker_p3600_{D0 - 2 * DAY}" in names  # straddles the cut-off: trimmed
    got = store.history(Level.WORKER, HOUR, 1, 0, start_from=0)
    assert sorted((r["start"], r["worker_id"]) for r in got) == sorted((r[2], r[1]) for r in kept)
    # a later flush into a dropped range makes its partition again
    store.write_flush(make_flush(history=[delta(Level.WORKER, HOUR, [(1, 1, days[3], 5.0, 0, 0)])]))
    assert [r["accept"] for r in store.history(Level.WORKER, HOUR, 1, 1, 0, days[3] + 1)] == [5.0]


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
