"""SqliteStore against a real SQLite file in tmp_path: schema, accounts, flushes, history."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from poolstats.domain.history_partitions import partition_range
from poolstats.engine.snapshot import Flush, Level
from poolstats.store import SqliteStore
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
    delta,
    make_flush,
    migrate,
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


# --- PostgreSQL's worker rows ---------------------------------------------------------------


def test_postgres_workers_have_their_texts_last_and_keep_rows_key_and_fillfactor(
    pg_url: str,
) -> None:
    """Migration 0015: from a 0013 database holding a worker, the upgrade (0014 adds two
    columns after the texts) ends with every text column last, the row whole, the primary
    key and ``fillfactor`` kept; and flushes go on updating the row."""
    with PostgresStore.open(pg_url) as store:
        migrate(store, "0013", down=True)
        with raw(store) as conn:
            conn.execute(
                "INSERT INTO workers (puid, worker_id, worker_name, last_share_ip, accept_1m, "
                "created_at, updated_at) VALUES (1, 10, 'rig-a', '10.0.0.7', 3.5, ?, ?)",
                (NOW - 60, NOW - 60),
            )
        migrate(store, "head")
        with raw(store) as conn:
            kinds = conn.execute(
                "SELECT attname, attlen FROM pg_attribute WHERE attrelid = 'workers'::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            ).fetchall()
            options = conn.execute(
                "SELECT reloptions FROM pg_class WHERE oid = 'workers'::regclass"
            ).fetchone()[0]
            key = conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'workers'::regclass AND contype = 'p'"
            ).fetchone()[0]
        texts = [name for name, length in kinds if length < 0]
        assert texts == ["worker_name", "last_share_ip", "miner_agent"]
        assert [length < 0 for _, length in kinds] == [False] * (len(kinds) - 3) + [True] * 3
        assert options == ["fillfactor=50"]
        assert key == "PRIMARY KEY (puid, worker_id)"
        row = store.worker(1, 10)
        assert row is not None
        assert (row["worker_name"], row["last_share_ip"], row["accept_1m"]) == (
            "rig-a", "10.0.0.7", 3.5,
        )  # fmt: skip
        assert (row["first_share_time"], row["created_at"]) == (NOW - 60, NOW - 60)
        later = {"puid": 1, "worker_id": 10, "name": "rig-a", "agent": "bmminer/2.0"}
        store.write_flush(make_flush(workers=[{**later, "sums": {"accept_1m": 7.0}}]))
        row = store.worker(1, 10)
        assert row is not None
        assert (row["accept_1m"], row["miner_agent"]) == (7.0, "bmminer/2.0")
