"""Worker pages, counts by status and group sums, against expectations computed in Python
from the very rows the test wrote (never from the store's own answers)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from poolstats.domain.status import WorkerStatus, worker_status
from poolstats.domain.worker_query import WORKER_ORDER_KEYS, WorkerQuery
from poolstats.store.postgres import PostgresStore
from poolstats.store.schema import OPEN_BUCKET_COLUMNS, WINDOW_COLUMNS
from poolstats.store.sql import SqlStore
from poolstats.store.sqlite import SqliteStore, worker_list_statement, worker_page_statements
from tests.services import fresh_database
from tests.store.backends import BACKENDS
from tests.store.helpers import NOW, make_flush

ACTIVE_S, INACTIVE_S = 900, 86400
PUID = 1
# Ages at and around both thresholds, a share time in the future and "never accepted" (0).
LAST_ACCEPT = [
    NOW + 5, NOW, NOW - 1, NOW - ACTIVE_S, NOW - ACTIVE_S - 1, NOW - 5000,
    NOW - INACTIVE_S, NOW - INACTIVE_S - 1, NOW - 10 * INACTIVE_S, 1, 0,
]  # fmt: skip
NAMES = ["rig%1", "rig_2", "rigA2", "back\\slash", "sl/ash", "UPPER", "upper-x", "Mixed.Case"]


def build_fleet(seed: int = 7) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Worker rows of puid 1 as the store should hold them (few distinct values, so every
    sort key has ties), plus worker_id -> group_id (gids 1 and 2, DEFAULT, deleted)."""
    rnd = random.Random(seed)
    rows = []
    for i in range(70):
        worker_id = rnd.choice([-1, 1]) * rnd.randrange(1, 2**62) if i % 10 else i + 1
        windows = {c: rnd.choice([0.0, 0.5, 1024.0, 65536.0, 3.25]) for c in WINDOW_COLUMNS}
        rows.append(
            {
                "puid": PUID,
                "worker_id": worker_id,
                "worker_name": NAMES[i] if i < len(NAMES) else f"w{rnd.randrange(30):02d}",
                **windows,
                "accept_count": rnd.choice([0, 5, 9]),
                "reject_count": rnd.choice([0, 1]),
                "last_share_time": rnd.choice([NOW, NOW - 60, NOW - 7200]),
                "last_accept_time": LAST_ACCEPT[i % len(LAST_ACCEPT)],
                "last_share_ip": "10.0.0.1",
                "created_at": NOW,
                "updated_at": NOW,
                **{c: 0 for cols in OPEN_BUCKET_COLUMNS.values() for c in cols},  # none
                "first_share_time": NOW - rnd.choice([60, 3600, 86400]),
                "miner_agent": rnd.choice(["", "cgminer/4.10.0", "bmminer/2.0.0"]),
            }
        )
    groups = {r["worker_id"]: rnd.choice([-1, -1, 1, 2, 0]) for r in rows}
    return rows, groups


def to_flush_dicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "puid": r["puid"],
            "worker_id": r["worker_id"],
            "name": r["worker_name"],
            "sums": {c: r[c] for c in WINDOW_COLUMNS},
            "accept_count": r["accept_count"],
            "reject_count": r["reject_count"],
            "last_share_time": r["last_share_time"],
            "last_accept_time": r["last_accept_time"],
            "ip": r["last_share_ip"],
            "first": r["first_share_time"],
            "agent": r["miner_agent"],
        }
        for r in rows
    ]


FLEET, GROUPS = build_fleet()
EXPECTED = [{**r, "group_id": GROUPS[r["worker_id"]]} for r in FLEET]


@pytest.fixture(scope="module", params=BACKENDS)
def fleet_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStore]:
    """puid 1: the fleet in groups 1, 2, DEFAULT and deleted; puid 2: workers never shown."""
    database = fresh_database(request.getfixturevalue("pg_template"))
    if request.param == "sqlite":
        opened: SqlStore = SqliteStore.open(tmp_path_factory.mktemp("fleet"))
    else:
        opened = PostgresStore.open(next(database))
    with opened as store:
        others = [{**r, "puid": 2, "worker_name": f"other{i}"} for i, r in enumerate(FLEET[:20])]
        store.write_flush(make_flush(workers=to_flush_dicts(FLEET + others)))
        assert [store.create_group(PUID, n, NOW)["gid"] for n in ("a", "b")] == [1, 2]
        store.create_group(2, "a", NOW)
        for group_id in (1, 2, 0):
            ids = [w for w, g in GROUPS.items() if g == group_id]
            assert store.move_workers(PUID, ids, group_id, NOW)
        yield store
    database.close()  # drops the PostgreSQL database, if one was made


def sort_value(row: dict[str, Any], key: str) -> Any:
    if key == "reject_fraction_15m":
        bad = row["reject_15m"] + row["stale_15m"]
        shares = row["accept_15m"] + row["reject_15m"] + row["stale_15m"]
        return bad / shares if shares > 0 else 0.0
    return row[key]


def expected(q: WorkerQuery, rows: list[dict[str, Any]] = EXPECTED) -> list[dict[str, Any]]:
    """The rows a query must return, in order, by the rules written out in Python."""
    kept = [
        r
        for r in rows
        if r["group_id"] != 0
        and (q.group_id is None or r["group_id"] == q.group_id)
        and (
            q.status is None
            or worker_status(r["last_accept_time"], q.now, q.active_s, q.inactive_s) == q.status
        )
        and q.name_contains.lower() in r["worker_name"].lower()
    ]
    ordered = sorted(
        kept, key=lambda r: (sort_value(r, q.order_by), r["worker_id"]), reverse=not q.ascending
    )
    return ordered


def all_pages(store: SqlStore, q: WorkerQuery, size: int) -> tuple[set[int], list[Any]]:
    """Every page of ``size``: (the total counts seen, the rows in order)."""
    totals, rows = set(), []
    offset = 0
    while True:
        page = store.worker_page(PUID, WorkerQuery(**{**vars(q), "offset": offset, "limit": size}))
        totals.add(page.total_count)
        rows += page.rows
        if len(page.rows) < size:
            return totals, rows
        offset += size


def test_the_fleet_has_what_the_tests_rely_on() -> None:
    statuses = {worker_status(r["last_accept_time"], NOW) for r in EXPECTED if r["group_id"]}
    assert statuses == set(WorkerStatus)
    assert {r["group_id"] for r in EXPECTED} == {-1, 0, 1, 2}
    for key in WORKER_ORDER_KEYS[1:]:  # ties, so the worker_id tie-break is exercised
        values = [sort_value(r, key) for r in EXPECTED]
        assert len(set(values)) < len(values), key


@pytest.mark.parametrize("ascending", [False, True])
@pytest.mark.parametrize("order_by", WORKER_ORDER_KEYS)
def test_every_order_both_ways_page_by_page(
    fleet_store: SqlStore, order_by: str, ascending: bool
) -> None:
    q = WorkerQuery(now=NOW, order_by=order_by, ascending=ascending)
    want = expected(q)
    totals, rows = all_pages(fleet_store, q, size=7)
    assert totals == {len(want)}
    assert [r["worker_id"] for r in rows] == [r["worker_id"] for r in want]
    assert rows == want  # every column, as written


@pytest.mark.parametrize("order_by", ["accept_15m", "accept_1m", "worker_id"])
@pytest.mark.parametrize("group_id", [None, -1, 1, 2, 0, 3])
@pytest.mark.parametrize("status", [None, *WorkerStatus])
def test_status_and_group_filters(
    fleet_store: SqlStore, order_by: str, group_id: int | None, status: WorkerStatus | None
) -> None:
    for ascending in (False, True):
        q = WorkerQuery(
            now=NOW, status=status, group_id=group_id, order_by=order_by, ascending=ascending
        )
        want = [r["worker_id"] for r in expected(q)]
        totals, rows = all_pages(fleet_store, q, size=4)
        assert totals == {len(want)}
        assert [r["worker_id"] for r in rows] == want
    if group_id in (0, 3):  # deleted workers are never listed; gid 3 does not exist
        assert want == []


@pytest.mark.parametrize(
    ("needle", "names"),
    [
        ("%", {"rig%1"}),
        ("_", {"rig_2"}),  # not a one-character wildcard: rigA2 does not match
        ("\\", {"back\\slash"}),
        ("/", {"sl/ash"}),  # the escape character SQLAlchemy uses, matched literally
        ("G%", {"rig%1"}),
        ("upper", {"UPPER", "upper-x"}),
        ("MIXED.c", {"Mixed.Case"}),
        ("rig", {"rig%1", "rig_2", "rigA2"}),
        ("nothing", set()),
    ],
)
def test_name_filter_is_literal_and_ignores_case(
    fleet_store: SqlStore, needle: str, names: set[str]
) -> None:
    for order_by in ("accept_15m", "worker_name"):
        q = WorkerQuery(now=NOW, name_contains=needle, order_by=order_by, limit=100)
        page = fleet_store.worker_page(PUID, q)
        want = expected(q)
        assert [r["worker_id"] for r in page.rows] == [r["worker_id"] for r in want]
        assert page.total_count == len(want)
        shown = {r["worker_name"] for r in want}
        assert shown == {n for n in names if GROUPS[worker_of(n)] != 0}


def worker_of(name: str) -> int:
    return next(r["worker_id"] for r in FLEET if r["worker_name"] == name)


def test_name_filter_combines_with_status_group_and_paging(fleet_store: SqlStore) -> None:
    q = WorkerQuery(now=NOW, name_contains="W0", status=WorkerStatus.ACTIVE, group_id=-1)
    want = [r["worker_id"] for r in expected(q)]
    assert want  # the fleet has such workers
    totals, rows = all_pages(fleet_store, q, size=2)
    assert (totals, [r["worker_id"] for r in rows]) == ({len(want)}, want)


def test_pages_beyond_the_end_and_empty_pages(fleet_store: SqlStore) -> None:
    total = len(expected(WorkerQuery(now=NOW)))
    page = fleet_store.worker_page(PUID, WorkerQuery(now=NOW, offset=total, limit=10))
    assert (page.total_count, page.rows) == (total, [])
    page = fleet_store.worker_page(PUID, WorkerQuery(now=NOW, limit=0))
    assert (page.total_count, page.rows) == (total, [])
    assert fleet_store.worker_page(99, WorkerQuery(now=NOW)).total_count == 0


# --- counts by status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "active_s", "inactive_s"),
    [
        (NOW, ACTIVE_S, INACTIVE_S),
        (NOW + 1, ACTIVE_S, INACTIVE_S),  # every threshold worker one second older
        (NOW, 60, 5000),
        (NOW, 5000, 60),  # INACTIVE cannot exist when active_s > inactive_s
        (NOW - 10 * INACTIVE_S, ACTIVE_S, INACTIVE_S),
        (100, ACTIVE_S, INACTIVE_S),  # thresholds before time 1: only 0 is DEAD there
    ],
)
def test_counts_and_status_filters_follow_worker_status(
    fleet_store: SqlStore, now: int, active_s: int, inactive_s: int
) -> None:
    live = [r for r in EXPECTED if r["group_id"] != 0]
    want = {s: 0 for s in WorkerStatus}
    for r in live:
        want[worker_status(r["last_accept_time"], now, active_s, inactive_s)] += 1
    assert fleet_store.worker_counts(PUID, now, active_s, inactive_s) == want
    for status in WorkerStatus:
        q = WorkerQuery(now=now, status=status, active_s=active_s, inactive_s=inactive_s, limit=100)
        page = fleet_store.worker_page(PUID, q)
        assert page.total_count == want[status]
        got = {r["worker_id"] for r in page.rows}
        assert got == {r["worker_id"] for r in expected(q)}


def test_counts_of_an_unknown_puid_are_zero(fleet_store: SqlStore) -> None:
    assert fleet_store.worker_counts(99, NOW) == dict.fromkeys(WorkerStatus, 0)


def test_cached_counts_follow_every_change_of_worker_rows(store: SqlStore) -> None:
    rows = [
        {"puid": 1, "worker_id": 1, "last_accept_time": NOW},
        {"puid": 1, "worker_id": 2, "last_accept_time": NOW - 1000},
        {"puid": 1, "worker_id": 3, "last_accept_time": 0},
    ]
    A, IN, D = WorkerStatus.ACTIVE, WorkerStatus.INACTIVE, WorkerStatus.DEAD
    store.write_flush(make_flush(workers=rows))
    counts = store.worker_counts(1, NOW)
    assert counts == {A: 1, IN: 1, D: 1}
    counts[A] = 99  # the caller's copy
    assert store.worker_counts(1, NOW) == {A: 1, IN: 1, D: 1}

    gid = store.create_group(1, "g", NOW)["gid"]
    assert store.move_workers(1, [1], gid, NOW)
    assert store.worker_counts(1, NOW) == {A: 1, IN: 1, D: 1}  # moved, not deleted
    assert store.move_workers(1, [2], 0, NOW)
    assert store.worker_counts(1, NOW) == {A: 1, IN: 0, D: 1}
    assert store.worker_page(1, WorkerQuery(now=NOW)).total_count == 2

    store.write_flush(make_flush(workers=[{**rows[2], "last_accept_time": NOW}]))
    assert store.worker_counts(1, NOW) == {A: 2, IN: 0, D: 0}
    assert store.worker_page(1, WorkerQuery(now=NOW, status=A)).total_count == 2

    assert store.move_workers(1, [1], 0, NOW)
    assert store.worker_counts(1, NOW) == {A: 1, IN: 0, D: 0}
    assert store.move_workers(1, [1], gid, NOW) is False  # deleted: nobody's to move
    assert store.move_workers(1, [3], gid, NOW)
    assert store.delete_group(1, gid, NOW)  # its worker goes to DEFAULT: still counted
    assert store.worker_counts(1, NOW) == {A: 1, IN: 0, D: 0}
    assert {w["worker_id"]: w["group_id"] for w in store.workers(1)}[3] == -1


# --- group sums -----------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "active_s", "inactive_s"), [(NOW, 900, 86400), (NOW, 60, 120)])
def test_group_stats_equal_python_sums(
    fleet_store: SqlStore, now: int, active_s: int, inactive_s: int
) -> None:
    want: dict[int, dict[str, Any]] = {}
    for r in EXPECTED:
        if r["group_id"] == 0:
            continue
        g = want.setdefault(
            r["group_id"],
            {
                "group_id": r["group_id"],
                "workers_active": 0,
                "workers_inactive": 0,
                "workers_dead": 0,
                "workers_total": 0,
                **dict.fromkeys(WINDOW_COLUMNS, 0.0),
            },
        )
        status = worker_status(r["last_accept_time"], now, active_s, inactive_s)
        g[f"workers_{status.value.lower()}"] += 1
        g["workers_total"] += 1
        for c in WINDOW_COLUMNS:  # values are multiples of 1/4: sums are exact in any order
            g[c] += r[c]
    got = fleet_store.group_stats(PUID, now, active_s, inactive_s)
    assert got == [want[g] for g in sorted(want)]
    assert fleet_store.group_stats(99, now) == []


# --- query plans ----------------------------------------------------------------------------


def plan(store: SqlStore, stmt: sa.Select[Any]) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN lines for a Core statement, with its parameters bound."""
    with store.read() as conn:
        compiled = stmt.compile(dialect=conn.dialect)
        params = compiled.construct_params()
        args = tuple(params[name] for name in compiled.positiontup or ())
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args).all()
    return [str(r[3]) for r in rows]


@pytest.mark.sqlite_only  # SQLite's query plans
def test_worker_lists_read_one_range_of_the_clustered_table(store: SqlStore) -> None:
    """A kept list is one range of the clustered table and one sort (made once per flush,
    see ``worker_page``); the workers table has no index a flush would have to update."""
    for order_by in ("accept_15m", "worker_id", "reject_fraction_15m"):
        lines = plan(store, worker_list_statement(PUID, order_by, False))
        assert lines[0] == "SEARCH workers USING PRIMARY KEY (puid=?)"
        assert lines[1:] in ([], ["USE TEMP B-TREE FOR ORDER BY"])  # worker_id: key order
    with store.read() as conn:
        indexes = conn.exec_driver_sql("PRAGMA index_list('workers')").all()
    assert [r[1] for r in indexes if not r[1].startswith("sqlite_autoindex")] == []


def test_a_page_follows_flushes(store: SqlStore) -> None:
    """SQLite answers from a list kept per flush, PostgreSQL from SQL: both see each flush."""
    rows = [{"puid": 1, "worker_id": w, "sums": {"accept_15m": float(w)}} for w in (1, 2, 3)]
    store.write_flush(make_flush(workers=rows))
    q = WorkerQuery(now=NOW, order_by="accept_15m", limit=2)
    assert [r["worker_id"] for r in store.worker_page(1, q).rows] == [3, 2]
    store.write_flush(make_flush(workers=[{**rows[0], "sums": {"accept_15m": 9.0}}]))
    page = store.worker_page(1, q)
    assert [r["worker_id"] for r in page.rows] == [1, 3]
    assert page.rows[0]["accept_15m"] == 9.0
    assert page.total_count == 3


@pytest.mark.sqlite_only  # SQLite's query plans
@pytest.mark.parametrize(
    "q",
    [
        WorkerQuery(now=NOW, order_by="accept_1m", status=WorkerStatus.ACTIVE),
        WorkerQuery(now=NOW, order_by="accept_15m", name_contains="rig"),
        WorkerQuery(now=NOW, order_by="worker_name", group_id=1),
    ],
)
def test_other_pages_read_the_subaccounts_rows_in_key_order(
    store: SqlStore, q: WorkerQuery
) -> None:
    """Not a table lookup per matching index entry: one range of the clustered table."""
    rows_plan = plan(store, worker_page_statements(PUID, q)[1])
    assert rows_plan[:2] == ["MATERIALIZE page", "SEARCH workers USING PRIMARY KEY (puid=?)"]
