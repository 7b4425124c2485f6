"""Network history in a real SQLite store: recording, look-ups in time, validation, migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from poolstats.store import SqliteStore
from poolstats.store.postgres import PostgresStore
from poolstats.store.sqlite import DB_FILE
from tests.store.helpers import raw
from tests.store.test_migrations import dump, migrate

T0 = 1_700_000_000
# A real mainnet-scale difficulty with more digits than a float holds exactly.
DIFF = "110451907374649.123456789012345678"


def entry(at: int, difficulty: str, height: int, fees: int, source: str, recorded: int) -> dict:
    return {
        "at": at,
        "difficulty": difficulty,
        "height": height,
        "fees_per_block_sat": fees,
        "source": source,
        "recorded_at": recorded,
    }


def test_record_keeps_the_exact_decimal_and_is_idempotent(store: SqliteStore) -> None:
    assert store.record_network(T0, DIFF, 800_000, 25_000_000, "rpc", T0 + 1) is True
    assert store.network_at(T0) == entry(T0, DIFF, 800_000, 25_000_000, "rpc", T0 + 1)
    # The same values again, however spelt, change nothing (recorded_at stays the first one).
    assert store.record_network(T0, DIFF + "000", 800_000, 25_000_000, "rpc", T0 + 9) is False
    assert store.network_at(T0) == entry(T0, DIFF, 800_000, 25_000_000, "rpc", T0 + 1)
    # A different value at the same time replaces the entry.
    assert store.record_network(T0, "2E+3", 800_001, 0, "cli", T0 + 5) is True
    assert store.network_at(T0 + 100) == entry(T0, "2000", 800_001, 0, "cli", T0 + 5)
    with raw(store) as db:  # stored as text, never as a (rounding) number
        typeof = "pg_typeof" if isinstance(store, PostgresStore) else "typeof"
        row = db.execute(
            f"SELECT count(*), min(CAST({typeof}(difficulty) AS TEXT)) FROM network_history"
        ).fetchone()
    assert (row[0], str(row[1])) == (1, "text")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("1.50", "1.5"),
        ("0.001", "0.001"),
        ("1.2E+5", "120000"),
        (" 7 ", "7"),
        ("1e-3", "0.001"),
        ("100", "100"),
        ("1" + "0" * 40 + ".5", "1" + "0" * 40 + ".5"),  # 42 digits, none rounded
    ],
)
def test_difficulty_is_stored_normalised_without_exponent(
    store: SqliteStore, given: str, stored: str
) -> None:
    store.record_network(T0, given, 1, 0, "cli", T0)
    found = store.network_at(T0)
    assert found is not None and found["difficulty"] == stored


def test_network_at_takes_the_newest_entry_at_or_before(store: SqliteStore) -> None:
    for i, at in enumerate((T0, T0 + 600, T0 + 1200)):
        store.record_network(at, str(1000 + i), 100 + i, i, "cli", at)
    assert store.network_at(T0 - 1) is None
    heights = {ts: store.network_at(ts)["height"] for ts in (T0, T0 + 599, T0 + 600, T0 + 10**6)}  # type: ignore[index]
    assert heights == {T0: 100, T0 + 599: 100, T0 + 600: 101, T0 + 10**6: 102}


def test_network_history_lists_the_entries_in_force_during_the_window(
    store: SqliteStore,
) -> None:
    ats = (T0, T0 + 600, T0 + 1200, T0 + 1800)
    for i, at in enumerate(ats):
        store.record_network(at, str(1000 + i), 100 + i, 0, "rpc", at)

    def window(start: int, stop: int) -> list[int]:
        return [e["at"] for e in store.network_history(start, stop)]

    assert window(T0 - 100, T0) == []  # nothing in force before the first entry
    assert window(T0 - 100, T0 + 1) == [T0]
    assert window(T0 + 300, T0 + 1200) == [T0, T0 + 600]  # stop is exclusive
    assert window(T0 + 600, T0 + 1201) == [T0 + 600, T0 + 1200]  # start's own entry, once
    assert window(T0 + 5000, T0 + 6000) == [T0 + 1800]  # the last one is still in force
    assert window(T0 + 700, T0 + 700) == []  # an empty window
    rows = store.network_history(T0 + 1, T0 + 601)
    assert rows == [
        entry(T0, "1000", 100, 0, "rpc", T0),
        entry(T0 + 600, "1001", 101, 0, "rpc", T0 + 600),
    ]


@pytest.mark.parametrize(
    ("difficulty", "height", "fees", "source", "field"),
    [
        ("0", 1, 0, "cli", "difficulty"),
        ("-5", 1, 0, "cli", "difficulty"),
        ("NaN", 1, 0, "cli", "difficulty"),
        ("Infinity", 1, 0, "cli", "difficulty"),
        ("12abc", 1, 0, "cli", "difficulty"),
        ("", 1, 0, "cli", "difficulty"),
        ("1e999999999", 1, 0, "cli", "difficulty"),
        (1.5, 1, 0, "cli", "difficulty"),  # a float is refused: it may already be rounded
        ("1", -1, 0, "cli", "height"),
        ("1", 1, -1, "cli", "fees_per_block_sat"),
        ("1", 1, 0, "pool", "source"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(
    store: SqliteStore, difficulty: Any, height: int, fees: int, source: str, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        store.record_network(T0, difficulty, height, fees, source, T0)
    assert store.network_at(T0) is None


def test_migration_0003_keeps_data_and_downgrades(tmp_path: Path) -> None:
    migrate(tmp_path, "0002")
    with sqlite3.connect(tmp_path / DB_FILE) as db:
        db.execute("INSERT INTO accounts (id, name, created_at) VALUES (1, 'alice', 11)")
        db.execute("INSERT INTO meta (key, value) VALUES ('history_seq', '42')")
        before = dump(db)
    with SqliteStore.open(tmp_path) as store:  # upgrades to head
        with sqlite3.connect(store.path) as db:
            after = dump(db)
        added = {name: after.pop(name) for name in set(after) - set(before)}
        assert "network_history" in added  # and the later migrations' tables: all empty
        assert all(rows == [] for rows in added.values())
        assert after.pop("meta") == sorted([("data_id", store.data_id()), *before["meta"]])
        assert after == {k: v for k, v in before.items() if k != "meta"}
        assert store.history_seq() == 42
        assert store.record_network(T0, "3", 7, 1, "cli", T0)
    migrate(tmp_path, "0002", down=True)
    with sqlite3.connect(tmp_path / DB_FILE) as db:
        assert dump(db) == before  # the table is gone, the rest untouched
