"""Migration 0002 on a database that holds data: nothing is lost either way."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

from poolstats.domain.accounts import PROFILE_FIELDS
from poolstats.domain.status import WorkerStatus
from poolstats.store import SqliteStore
from poolstats.store.base import WorkerQuery
from poolstats.store.sqlite import DB_FILE, _alembic_config
from tests.store.helpers import NOW, make_flush

WORKERS = [  # (puid, worker_id, name, group_id, accept_15m, last_accept_time); -2**63 is legal
    (1, 2**63 - 1, "rig-max", -1, 65536.0, NOW - 10),
    (1, -(2**63), "rig-min", 1, 0.5, NOW - 1000),
    (1, 7, "rig7", 0, 3.0, NOW),
    (2, 7, "other7", -1, 8.0, 0),
]


def migrate(data_dir: Path, revision: str, down: bool = False) -> None:
    """Run alembic to ``revision`` on the data dir's database, as ``SqliteStore.open`` would."""
    engine = sa.create_engine(sa.URL.create("sqlite", database=str(data_dir / DB_FILE)))
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def fill_0001(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO accounts (id, name, created_at) VALUES (1, 'alice', 11)")
    db.execute(
        "INSERT INTO subaccounts (puid, account_id, name, created_at) VALUES "
        "(1, 1, 'alice', 12), (2, 1, 'alice-2', 13)"
    )
    db.execute(
        "INSERT INTO access_keys (account_id, key_hash, read_only, created_at, revoked_at) "
        "VALUES (1, 'h1', 0, 14, NULL), (1, 'h2', 1, 15, 16)"
    )
    for i, (puid, wid, name, group_id, a15, lat) in enumerate(WORKERS):
        db.execute(
            "INSERT INTO workers (puid, worker_id, worker_name, group_id, accept_1m, accept_15m,"
            " stale_5m, accept_count, reject_count, last_share_time, last_accept_time,"
            " last_share_ip, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (puid, wid, name, group_id, i + 0.25, a15, i * 2.0, 100 + i, i, lat + 1, lat,
             f"10.0.0.{i}", NOW - 99, NOW - i),
        )  # fmt: skip
    db.execute(
        "INSERT INTO worker_groups (gid, puid, name, sort_id, created_at, updated_at) "
        "VALUES (1, 1, 'west', 1, 20, 21)"
    )
    db.execute(
        "INSERT INTO history_worker (puid, worker_id, period_s, start, accept, stale, reject) "
        "VALUES (1, 7, 3600, 3600, 1.5, 0, 0)"
    )
    db.execute("INSERT INTO meta (key, value) VALUES ('history_seq', '42')")


def dump(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a fixed order."""
    tables = [
        r[0]
        for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        if not r[0].startswith("sqlite_") and r[0] != "alembic_version"
    ]
    return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}


def shape(db: sqlite3.Connection) -> dict[str, Any]:
    """Columns and indexes of every table, and whether it has rowids."""
    out: dict[str, Any] = {}
    for table, sql in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ):
        indexes = {
            r[1]: [c[2] for c in db.execute(f"PRAGMA index_info('{r[1]}')")]
            for r in db.execute(f"PRAGMA index_list('{table}')")
        }
        columns = [tuple(r) for r in db.execute(f"PRAGMA table_info('{table}')")]
        out[table] = (columns, indexes, "WITHOUT ROWID" in sql)
    return out


def test_upgrade_keeps_every_row_and_rebuilds_workers_clustered(tmp_path: Path) -> None:
    migrate(tmp_path, "0001")
    with sqlite3.connect(tmp_path / DB_FILE) as db:
        fill_0001(db)
        before = dump(db)

    with SqliteStore.open(tmp_path) as store:  # upgrades to head
        with sqlite3.connect(store.path) as db:
            after = dump(db)
            workers_sql = db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'workers'"
            ).fetchone()[0]
            indexes = {
                r[0]: r[1]
                for r in db.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'workers'"
                )
            }
        profile_defaults = (*[""] * len(PROFILE_FIELDS), 0, "PPS", None, 500_000)  # 0004
        assert after.pop("subaccounts") == [
            (*row, *profile_defaults) for row in before.pop("subaccounts")
        ]
        assert after.pop("network_history") == []  # 0003 adds it empty
        for table in ("work", "payout_batches", "payouts", "earnings"):  # 0005 adds them empty
            assert after.pop(table) == []
        for table in ("alert_settings", "alert_contacts", "alert_log", "alert_state"):  # 0006
            assert after.pop(table) == []
        assert after.pop("blocks") == []  # 0007 adds it empty
        meta = dict(after.pop("meta"))  # 0008 gives the database its id
        assert len(meta.pop("data_id")) == 32
        assert sorted(meta.items()) == before.pop("meta")
        assert after.pop("leases") == []  # 0010 adds it empty
        assert after.pop("watchers") == []  # 0013 adds it empty
        no_open_buckets = (0, 0.0, 0.0, 0.0) * 2  # 0012: hour and day (start, sums)
        facts = (NOW - 99, "")  # 0014: first share time from created_at, no agent
        assert after.pop("workers") == [
            (*row, *no_open_buckets, *facts) for row in before.pop("workers")
        ]
        assert after == before
        assert workers_sql.rstrip().endswith("WITHOUT ROWID")
        assert indexes == {}  # 0012 drops both: their columns change every flush

        # The migrated rows serve the new queries, and the next flush updates them in place.
        page = store.worker_page(1, WorkerQuery(now=NOW, order_by="accept_15m"))
        assert [r["worker_name"] for r in page.rows] == ["rig-max", "rig-min"]  # rig7 deleted
        assert store.worker_counts(1, NOW) == {
            WorkerStatus.ACTIVE: 1,
            WorkerStatus.INACTIVE: 1,
            WorkerStatus.DEAD: 0,
        }
        profile = store.subaccount_profile(2)
        assert profile is not None and (profile["name"], profile["created_at"]) == ("alice-2", 13)
        store.write_flush(make_flush(workers=[{"puid": 2, "worker_id": 7, "name": "other7"}]))
        row = store.worker(2, 7)
        assert row is not None
        assert (row["created_at"], row["updated_at"], row["accept_15m"]) == (NOW - 99, NOW, 0.0)


def test_downgrade_restores_0001_with_the_data(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    migrate(fresh, "0001")
    with sqlite3.connect(fresh / DB_FILE) as db:
        shape_0001 = shape(db)

    data = tmp_path / "data"
    data.mkdir()
    migrate(data, "0001")
    with sqlite3.connect(data / DB_FILE) as db:
        fill_0001(db)
        before = dump(db)
    migrate(data, "head")
    with sqlite3.connect(data / DB_FILE) as db:
        db.execute("UPDATE subaccounts SET region = 'eu', updated_at = 5 WHERE puid = 1")
    migrate(data, "0001", down=True)
    with sqlite3.connect(data / DB_FILE) as db:
        assert dump(db) == before
        assert shape(db) == shape_0001
