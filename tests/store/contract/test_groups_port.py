"""Worker groups of a sub-account and moving workers between them."""

from __future__ import annotations

from typing import Any

import pytest

from poolstats.domain.status import WorkerStatus
from poolstats.store import SqliteStore
from poolstats.store.base import GroupExists, WorkerQuery
from tests.store.helpers import NOW, add_failing_trigger, make_flush, raw


def group_ids(store: SqliteStore, puid: int) -> dict[int, int]:
    """worker_id -> group_id of every worker of the puid, deleted ones included."""
    return {w["worker_id"]: w["group_id"] for w in store.workers(puid)}


def fleet(store: SqliteStore) -> None:
    """puid 1: workers 1..5, puid 2: workers 11..12 (and a worker 1 of its own)."""
    workers: list[dict[str, Any]] = [{"puid": 1, "worker_id": i} for i in range(1, 6)]
    workers += [{"puid": 2, "worker_id": i} for i in (1, 11, 12)]
    store.write_flush(make_flush(workers=workers))


# --- groups ---------------------------------------------------------------------------------


def test_create_group_returns_its_row_sorted_after_the_others(store: SqliteStore) -> None:
    first = store.create_group(1, "west", NOW)
    second = store.create_group(1, "east", NOW + 5)
    assert first == {
        "gid": 1,
        "puid": 1,
        "name": "west",
        "sort_id": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }
    assert (second["gid"], second["sort_id"], second["created_at"]) == (2, 2, NOW + 5)
    assert store.groups(1) == [first, second]  # by sort_id, not by name
    assert store.group(1, 2) == second
    assert store.groups(2) == []


def test_group_names_are_unique_per_subaccount(store: SqliteStore) -> None:
    store.create_group(1, "west", NOW)
    with pytest.raises(GroupExists, match="'west'"):
        store.create_group(1, "west", NOW)
    other = store.create_group(2, "west", NOW)  # another sub-account may use it
    assert (other["puid"], other["name"]) == (2, "west")
    assert [g["name"] for g in store.groups(1)] == ["west"]


def test_groups_are_ordered_by_sort_id_then_gid(store: SqliteStore) -> None:
    for name in ("a", "b", "c"):
        store.create_group(1, name, NOW)
    with raw(store) as conn:  # a reordering, as a future "sort" call would store it
        conn.execute("UPDATE worker_groups SET sort_id = 0 WHERE gid IN (2, 3)")
    assert [g["gid"] for g in store.groups(1)] == [2, 3, 1]


def test_a_gid_of_another_subaccount_is_not_found(store: SqliteStore) -> None:
    gid = store.create_group(2, "theirs", NOW)["gid"]
    assert store.group(1, gid) is None
    assert store.rename_group(1, gid, "mine", NOW) is False
    assert store.delete_group(1, gid, NOW) is False
    assert store.group(2, gid) is not None
    assert store.groups(2)[0]["name"] == "theirs"


def test_rename_group(store: SqliteStore) -> None:
    gid = store.create_group(1, "west", NOW)["gid"]
    store.create_group(1, "east", NOW)
    store.create_group(2, "north", NOW)
    assert store.rename_group(1, gid, "north", NOW + 9) is True  # taken in puid 2 only
    assert store.rename_group(1, gid, "north", NOW + 10) is True  # its own name
    with pytest.raises(GroupExists):
        store.rename_group(1, gid, "east", NOW + 11)
    group = store.group(1, gid)
    assert group is not None
    assert (group["name"], group["created_at"], group["updated_at"]) == ("north", NOW, NOW + 10)
    assert store.rename_group(1, 99, "x", NOW) is False


def test_delete_group_sends_its_workers_back_to_default(store: SqliteStore) -> None:
    fleet(store)
    west = store.create_group(1, "west", NOW)["gid"]
    east = store.create_group(1, "east", NOW)["gid"]
    assert store.move_workers(1, [1, 2], west, NOW)
    assert store.move_workers(1, [3], east, NOW)
    assert store.move_workers(1, [4], 0, NOW)
    assert store.delete_group(1, west, NOW + 1) is True
    assert group_ids(store, 1) == {1: -1, 2: -1, 3: east, 4: 0, 5: -1}
    assert group_ids(store, 2) == {1: -1, 11: -1, 12: -1}
    assert [g["gid"] for g in store.groups(1)] == [east]
    assert store.delete_group(1, west, NOW + 2) is False  # already gone


def test_delete_group_is_one_transaction(store: SqliteStore) -> None:
    fleet(store)
    west = store.create_group(1, "west", NOW)["gid"]
    assert store.move_workers(1, [1, 2], west, NOW)
    # make the last statement (the group's delete) fail
    add_failing_trigger(store, "keep", "DELETE", "worker_groups")
    with pytest.raises(Exception, match="keep"):
        store.delete_group(1, west, NOW)
    assert group_ids(store, 1) == {1: west, 2: west, 3: -1, 4: -1, 5: -1}  # rolled back
    assert store.group(1, west) is not None


# --- moving workers -------------------------------------------------------------------------


def test_move_workers_to_a_group_default_and_deleted(store: SqliteStore) -> None:
    fleet(store)
    west = store.create_group(1, "west", NOW)["gid"]
    assert store.move_workers(1, [2, 3, 2], west, NOW) is True  # duplicates are fine
    assert group_ids(store, 1) == {1: -1, 2: west, 3: west, 4: -1, 5: -1}
    assert store.move_workers(1, [3], -1, NOW) is True
    assert store.move_workers(1, [5], 0, NOW) is True
    assert group_ids(store, 1) == {1: -1, 2: west, 3: -1, 4: -1, 5: 0}
    assert group_ids(store, 2) == {1: -1, 11: -1, 12: -1}  # same worker_id 1, other puid
    assert store.move_workers(1, [], west, NOW) is True
    # deleted is gone: not moved back (nor deleted again) until it submits a share
    assert store.move_workers(1, [5], -1, NOW) is False
    assert store.move_workers(1, [1, 5], 0, NOW) is False
    assert group_ids(store, 1)[5] == 0 and group_ids(store, 1)[1] == -1


@pytest.mark.parametrize(
    ("worker_ids", "group"),
    [
        ([1, 11], "west"),  # 11 is a worker of puid 2
        ([99], "west"),  # no such worker
        ([1, 2**63], "west"),  # cannot be a worker id (beyond int64)
        ([1, 2], "theirs"),  # puid 2's group
        ([1, 2], 7),  # no such group
        ([1, 2], -2),  # neither DEFAULT, deleted nor a gid
    ],
)
def test_move_workers_is_all_or_nothing(
    store: SqliteStore, worker_ids: list[int], group: str | int
) -> None:
    fleet(store)
    gids = {"west": store.create_group(1, "west", NOW)["gid"]}
    gids["theirs"] = store.create_group(2, "theirs", NOW)["gid"]
    assert store.move_workers(1, [4], gids["west"], NOW)
    before = (group_ids(store, 1), group_ids(store, 2))
    group_id = gids[group] if isinstance(group, str) else group
    assert store.move_workers(1, worker_ids, group_id, NOW) is False
    assert (group_ids(store, 1), group_ids(store, 2)) == before


def test_move_many_workers_at_once(store: SqliteStore) -> None:
    ids = list(range(1, 25_001))  # more than one statement's worth of parameters
    store.write_flush(make_flush(workers=[{"puid": 1, "worker_id": i} for i in ids]))
    gid = store.create_group(1, "all", NOW)["gid"]
    assert store.move_workers(1, ids[::-1], gid, NOW) is True
    assert set(group_ids(store, 1).values()) == {gid}
    assert store.move_workers(1, [*ids, 25_001], -1, NOW) is False
    assert set(group_ids(store, 1).values()) == {gid}


def test_a_deleted_worker_comes_back_to_default_when_it_shares_again(
    store: SqliteStore,
) -> None:
    worker = {"puid": 1, "worker_id": 1, "last_share_time": NOW, "last_accept_time": NOW}
    store.write_flush(make_flush(workers=[worker]))
    assert store.move_workers(1, [1], 0, NOW + 1)
    query = WorkerQuery(now=NOW + 20, status=WorkerStatus.ACTIVE)
    assert store.worker_page(1, query).total_count == 0
    assert store.worker_counts(1, NOW + 20)[WorkerStatus.ACTIVE] == 0

    store.write_flush(make_flush(now=NOW + 15, workers=[worker]))  # no newer share: stays
    assert group_ids(store, 1) == {1: 0}

    newer = {**worker, "last_share_time": NOW + 18, "last_accept_time": NOW + 18}
    store.write_flush(make_flush(now=NOW + 20, workers=[newer]))
    assert group_ids(store, 1) == {1: -1}
    page = store.worker_page(1, query)
    assert (page.total_count, [r["worker_id"] for r in page.rows]) == (1, [1])
    assert store.worker_counts(1, NOW + 20)[WorkerStatus.ACTIVE] == 1
