"""The accounts port's contract: users, sub-accounts, access keys and their grants, and
sub-account profiles."""

from __future__ import annotations

import hashlib

import pytest

from poolstats.domain.accounts import PROFILE_FIELDS
from poolstats.store import SqliteStore, UserExists
from poolstats.store.base import KeyGrant, UnknownAccount
from tests.store.helpers import (
    NOW,
    raw,
)

# --- sub-accounts ---------------------------------------------------------------------------


def test_create_subaccount_adds_a_puid_to_the_account(store: SqliteStore) -> None:
    alice = store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    puid = store.create_subaccount("alice", "alice-farm2", NOW + 7)
    assert puid == 3  # after alice (1) and bob (2)
    assert store.subaccounts() == {"alice": 1, "bob": 2, "alice-farm2": 3}
    assert store.puid_of("alice-farm2") == 3
    with raw(store) as conn:
        row = conn.execute(
            "SELECT account_id, created_at FROM subaccounts WHERE puid = 3"
        ).fetchone()
    assert tuple(row) == (1, NOW + 7)  # alice's account
    grant = store.key_grant(alice.access_key)
    assert grant == KeyGrant(account_id=1, puids=(1, 3), read_only=False)


def test_create_subaccount_refuses_an_unknown_account(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    with pytest.raises(UnknownAccount, match="'nobody'"):
        store.create_subaccount("nobody", "farm", NOW)
    with pytest.raises(UnknownAccount):  # names match exactly, as stratum logins do
        store.create_subaccount("Alice", "farm", NOW)
    assert store.subaccounts() == {"alice": 1}


@pytest.mark.parametrize("taken", ["alice", "bob", "bobs-rigs"])
def test_create_subaccount_refuses_a_name_taken_by_any_account_or_subaccount(
    store: SqliteStore, taken: str
) -> None:
    store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    store.create_subaccount("bob", "bobs-rigs", NOW)
    before = store.subaccounts()
    with pytest.raises(UserExists, match="already taken"):
        store.create_subaccount("alice", taken, NOW)
    assert store.subaccounts() == before


def test_account_names_and_subaccount_names_share_one_namespace(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_subaccount("alice", "farm", NOW)
    with pytest.raises(UserExists):  # create_user checks sub-account names too
        store.create_user("farm", NOW)


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dot.ted"])
def test_create_subaccount_validates_the_name_like_create_user(
    store: SqliteStore, name: str
) -> None:
    store.create_user("alice", NOW)
    with pytest.raises(ValueError) as info:
        store.create_subaccount("alice", name, NOW)
    assert not isinstance(info.value, UserExists)
    assert store.subaccounts() == {"alice": 1}


# --- keys -----------------------------------------------------------------------------------


def test_create_key_stores_only_its_hash_and_grants_the_account(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_subaccount("alice", "farm2", NOW)
    key = store.create_key("alice", read_only=True, now=NOW + 3)
    assert len(key) == 32
    with raw(store) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM access_keys ORDER BY id")]
        dump = "\n".join(conn.iterdump())
    assert len(rows) == 2
    new = rows[1]
    assert new["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert (new["account_id"], new["read_only"], new["created_at"]) == (1, 1, NOW + 3)
    assert new["revoked_at"] is None
    assert key not in dump
    assert store.key_grant(key) == KeyGrant(account_id=1, puids=(1, 2), read_only=True)


def test_create_key_refuses_an_unknown_account(store: SqliteStore) -> None:
    with pytest.raises(UnknownAccount):
        store.create_key("nobody", read_only=False, now=NOW)
    with raw(store) as conn:
        assert conn.execute("SELECT count(*) FROM access_keys").fetchone()[0] == 0


def test_key_grant_per_key_and_account(store: SqliteStore) -> None:
    alice = store.create_user("alice", NOW)
    bob = store.create_user("bob", NOW)
    store.create_subaccount("bob", "bob-b", NOW)
    store.create_subaccount("alice", "alice-b", NOW)
    store.create_subaccount("bob", "bob-c", NOW)
    bob_reader = store.create_key("bob", read_only=True, now=NOW)
    assert store.key_grant(alice.access_key) == KeyGrant(1, (1, 4), False)
    assert store.key_grant(bob.access_key) == KeyGrant(2, (2, 3, 5), False)
    assert store.key_grant(bob_reader) == KeyGrant(2, (2, 3, 5), True)


def test_key_grant_is_none_for_a_revoked_key_and_other_keys_keep_working(
    store: SqliteStore,
) -> None:
    alice = store.create_user("alice", NOW)
    second = store.create_key("alice", read_only=False, now=NOW)
    assert store.revoke_key(alice.access_key, NOW + 1) is True
    assert store.key_grant(alice.access_key) is None
    assert store.key_grant(second) == KeyGrant(1, (1,), False)
    assert store.key_grant("") is None
    assert store.key_grant(second.upper()) is None


# --- profiles -------------------------------------------------------------------------------

# Migration 0004's defaults: PPS, the pool's fee (NULL), 0.005 BTC.
PAYOUT_DEFAULTS = {"payment_mode": "PPS", "fee_rate": None, "min_payout_sat": 500_000}


def test_profile_starts_empty(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    assert store.subaccount_profile(1) == {
        "puid": 1,
        "name": "alice",
        "account_id": 1,
        "created_at": NOW,
        "updated_at": 0,
        **dict.fromkeys(PROFILE_FIELDS, ""),
        **PAYOUT_DEFAULTS,
    }
    assert store.subaccount_profile(2) is None


def test_update_profile_sets_only_the_given_fields(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    fields = {
        "address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "region": "eu-west",
        "mail": "a@example.org",
    }
    assert store.update_subaccount_profile(1, fields, NOW + 60) is True
    assert store.update_subaccount_profile(1, {"mail": "b@example.org"}, NOW + 90) is True
    profile = store.subaccount_profile(1)
    assert profile is not None
    expected = dict.fromkeys(PROFILE_FIELDS, "") | fields | {"mail": "b@example.org"}
    assert {f: profile[f] for f in PROFILE_FIELDS} == expected
    assert profile["updated_at"] == NOW + 90
    other = store.subaccount_profile(2)
    assert other is not None
    assert {f: other[f] for f in PROFILE_FIELDS} == dict.fromkeys(PROFILE_FIELDS, "")


def test_update_profile_of_an_unknown_puid_is_false(store: SqliteStore) -> None:
    assert store.update_subaccount_profile(9, {"region": "x"}, NOW) is False


@pytest.mark.parametrize("field", ["name", "puid", "account_id", "updated_at", "region; --"])
def test_update_profile_refuses_other_columns_and_changes_nothing(
    store: SqliteStore, field: str
) -> None:
    store.create_user("alice", NOW)
    with pytest.raises(ValueError, match=f"'{field}' is not a profile field"):
        store.update_subaccount_profile(1, {"region": "eu", field: "x"}, NOW + 1)
    assert store.subaccount_profile(1) == {
        "puid": 1,
        "name": "alice",
        "account_id": 1,
        "created_at": NOW,
        "updated_at": 0,
        **dict.fromkeys(PROFILE_FIELDS, ""),
        **PAYOUT_DEFAULTS,
    }


def test_update_profile_refuses_values_that_are_not_text(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    with pytest.raises(ValueError, match="'phone_number' must be text"):
        store.update_subaccount_profile(1, {"phone_number": 5551234}, NOW)


def rows(store: SqliteStore, sql: str) -> list[tuple[object, ...]]:
    with raw(store) as conn:
        return [tuple(r) for r in conn.execute(sql)]


def test_payout_settings_are_stored_normalised(store: SqliteStore) -> None:
    store.create_user("alice", NOW)
    fields = {
        "payment_mode": "fpps",
        "fee_rate": "0.0250",
        "min_payout_sat": 1_000_000,
        "address": "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
    }
    assert store.update_subaccount_profile(1, fields, NOW + 5) is True
    assert rows(
        store,
        "SELECT payment_mode, fee_rate, min_payout_sat, address, updated_at FROM subaccounts",
    ) == [("FPPS", "0.025", 1_000_000, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", NOW + 5)]
    # Back to the pool's fee; a zero fee and a zero minimum are legitimate settings.
    store.update_subaccount_profile(1, {"fee_rate": None, "min_payout_sat": 0}, NOW + 6)
    assert rows(store, "SELECT fee_rate, min_payout_sat FROM subaccounts") == [(None, 0)]
    store.update_subaccount_profile(1, {"fee_rate": "0"}, NOW + 7)
    assert rows(store, "SELECT fee_rate FROM subaccounts") == [("0",)]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"payment_mode": "PPLNS"}, "payment_mode"),
        ({"payment_mode": 1}, "payment_mode"),
        ({"fee_rate": "1"}, "fee rate"),
        ({"fee_rate": "0.0000001"}, "fee rate"),
        ({"fee_rate": "2%"}, "fee rate"),
        ({"fee_rate": 0.02}, "fee_rate"),
        ({"min_payout_sat": -1}, "min_payout_sat"),
        ({"min_payout_sat": 21_000_000 * 100_000_000 + 1}, "min_payout_sat"),
        ({"min_payout_sat": "500000"}, "min_payout_sat"),
        ({"min_payout_sat": True}, "min_payout_sat"),
        ({"address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"}, "address"),
        ({"address": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"}, "address"),
    ],
)
def test_payout_settings_refusals_name_the_field_and_change_nothing(
    store: SqliteStore, fields: dict[str, object], named: str
) -> None:
    store.create_user("alice", NOW)
    with pytest.raises(ValueError, match=named):
        store.update_subaccount_profile(1, {"region": "eu", **fields}, NOW + 1)
    profile = store.subaccount_profile(1)
    assert profile is not None
    assert (profile["region"], profile["updated_at"]) == ("", 0)
    assert {f: profile[f] for f in PAYOUT_DEFAULTS} == PAYOUT_DEFAULTS
    assert profile["address"] == ""


# --- users and keys -------------------------------------------------------------------------------


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
