"""The watchers port's contract: links stored as hashes, listed by prefix, one puid each,
deleted at once, bounded per sub-account."""

from __future__ import annotations

import hashlib

import pytest

from poolstats.domain.watchers import MAX_WATCHERS_PER_SUBACCOUNT
from poolstats.store import SqliteStore
from poolstats.store.ports import TooManyWatchers, Watcher
from tests.store.helpers import NOW, raw


def test_a_new_watcher_is_stored_as_the_hash_of_its_token(store: SqliteStore) -> None:
    alice = store.create_user("alice", NOW)
    made = store.create_watcher(alice.puid, " Wang Yang ", NOW + 5)
    token = made.token
    assert token.startswith("r_") and len(token) == 2 + 32
    assert made.watcher == Watcher(
        id=1, account_id=1, puid=alice.puid, prefix=token[:8], note="Wang Yang",
        created_at=NOW + 5, updated_at=NOW + 5,
    )  # fmt: skip
    assert token not in repr(made)
    with raw(store) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM watchers")]
    assert rows == [
        {
            "id": 1, "puid": 1, "token_hash": hashlib.sha256(token.encode()).hexdigest(),
            "token_prefix": token[:8], "note": "Wang Yang", "created_at": NOW + 5,
            "updated_at": NOW + 5,
        }
    ]  # fmt: skip
    assert all(token not in str(v) for v in rows[0].values())


def test_a_token_opens_its_one_puid_and_nothing_else_does(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    for_alice = store.create_watcher(1, "ab", NOW).token
    for_bob = store.create_watcher(2, "cd", NOW).token
    assert store.watcher_puid(for_alice) == 1
    assert store.watcher_puid(for_bob) == 2
    for wrong in ("", "r_", for_alice[:-1], for_alice + "x", for_alice.upper(), "' OR 1=1 --"):
        assert store.watcher_puid(wrong) is None, wrong


def test_the_list_is_the_sub_accounts_own_oldest_first(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_subaccount("alice", "alice2", NOW)
    first = store.create_watcher(1, "first", NOW + 1).watcher
    other = store.create_watcher(2, "other", NOW + 2).watcher
    second = store.create_watcher(1, "second", NOW + 3).watcher
    assert store.watchers(1) == [first, second]
    assert store.watchers(2) == [other]
    assert store.watchers(99) == []
    assert store.watcher_counts([2, 1, 99]) == {1: 2, 2: 1, 99: 0}
    assert store.watcher_counts([]) == {}


def test_deleting_a_link_revokes_its_token_and_only_its_owner_may(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    made = store.create_watcher(1, "ab", NOW)
    assert store.delete_watcher(2, made.watcher.id) is False  # bob's puid: not his link
    assert store.watcher_puid(made.token) == 1
    assert store.delete_watcher(1, made.watcher.id) is True
    assert store.watcher_puid(made.token) is None
    assert store.delete_watcher(1, made.watcher.id) is False
    again = store.create_watcher(1, "ab", NOW)
    assert again.watcher.id == 2  # an id once deleted never names another link


@pytest.mark.parametrize("note", ["", "a", " a ", "x" * 21, "tab\there"])
def test_notes_outside_2_to_20_printable_characters_are_refused(
    store: SqliteStore, note: str
) -> None:
    store.create_user("alice", NOW)
    with pytest.raises(ValueError, match=r"^note: "):
        store.create_watcher(1, note, NOW)
    assert store.watchers(1) == []


def test_a_sub_account_has_at_most_its_limit_of_links(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    for i in range(MAX_WATCHERS_PER_SUBACCOUNT):
        store.create_watcher(1, f"n{i}", NOW)
    with pytest.raises(TooManyWatchers, match=r"^puid: "):
        store.create_watcher(1, "one more", NOW)
    assert len(store.watchers(1)) == MAX_WATCHERS_PER_SUBACCOUNT
    store.create_watcher(2, "bob's", NOW)  # per sub-account: bob is not held back
    store.delete_watcher(1, 1)
    store.create_watcher(1, "room again", NOW)


def test_an_unknown_puid_gets_no_link(store: SqliteStore) -> None:
    with pytest.raises(LookupError, match="puid"):
        store.create_watcher(7, "ab", NOW)
