"""The sub-accounts port's contract: an account's sub-accounts by id, and new ones made with
their payout address in one step, within the per-account limit."""

from __future__ import annotations

import pytest

from poolstats.domain.subaccounts import MAX_SUBACCOUNTS_PER_ACCOUNT
from poolstats.store import SqliteStore, UserExists
from poolstats.store.base import UnknownAccount
from poolstats.store.ports import TooManySubaccounts
from tests.store.helpers import NOW, raw

ADDRESS = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"  # a valid mainnet P2PKH address


def test_the_list_is_the_accounts_own_by_puid(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_user("bob", NOW + 1)
    store.create_subaccount("alice", "alice2", NOW + 2)
    store.update_subaccount_profile(3, {"region": "中国"}, NOW + 3)
    assert store.account_subaccounts(1) == [
        {"puid": 1, "name": "alice", "region": "", "created_at": NOW, "updated_at": 0},
        {"puid": 3, "name": "alice2", "region": "中国", "created_at": NOW + 2,
         "updated_at": NOW + 3},
    ]  # fmt: skip
    assert [r["puid"] for r in store.account_subaccounts(2)] == [2]
    assert store.account_subaccounts(99) == []


def test_add_subaccount_sets_its_profile_in_the_same_step(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    puid = store.add_subaccount(1, "farm2", {"address": ADDRESS, "region": "cn"}, NOW + 4)
    assert puid == 2
    profile = store.subaccount_profile(puid)
    assert profile is not None
    assert (profile["account_id"], profile["name"], profile["address"], profile["region"]) == (
        1, "farm2", ADDRESS, "cn"
    )  # fmt: skip
    assert profile["created_at"] == NOW + 4
    assert store.key_grant(store.create_key("alice", False, NOW)) is not None
    assert store.puid_of("farm2") == 2


def test_a_refused_field_or_name_leaves_no_sub_account(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    with pytest.raises(ValueError, match=r"^address: "):
        store.add_subaccount(1, "farm2", {"address": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"}, NOW)
    with pytest.raises(UserExists):
        store.add_subaccount(1, "bob", {"address": ADDRESS}, NOW)
    with pytest.raises(ValueError, match="user name"):
        store.add_subaccount(1, "no spaces", {"address": ADDRESS}, NOW)
    with pytest.raises(UnknownAccount):
        store.add_subaccount(9, "farm9", {"address": ADDRESS}, NOW)
    with raw(store) as conn:
        assert conn.execute("SELECT count(*) FROM subaccounts").fetchone()[0] == 2


def test_an_account_has_at_most_its_limit_of_sub_accounts(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    limit = MAX_SUBACCOUNTS_PER_ACCOUNT
    with raw(store) as conn:  # alice's first is there: fill up to one short of the limit
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < CAST(? AS INTEGER)) INSERT INTO subaccounts (account_id, name, "
            "created_at) SELECT 1, 'filler' || CAST(i AS TEXT), CAST(? AS INTEGER) FROM n",
            (limit - 2, NOW),
        )
    store.add_subaccount(1, "last-one", {}, NOW)
    with pytest.raises(TooManySubaccounts, match=r"^worker_name: "):
        store.add_subaccount(1, "one-more", {}, NOW)
    assert len(store.account_subaccounts(1)) == limit
    assert store.puid_of("one-more") is None
    store.add_subaccount(2, "bobs-farm", {}, NOW)  # per account: bob is not held back
