"""The alerts port's contract: settings with BTC.COM's defaults, contacts and log scoped by
puid, the evaluator's state written with its log entries."""

from __future__ import annotations

import pytest

from poolstats.domain.alerts import IDLE, AlertKind, AlertState
from poolstats.store.alerts import NO_ALERT, AlertConfig, AlertStore, LogEntry, TooManyContacts
from poolstats.store.sql import SqlStore

NOW = 1_700_000_000


@pytest.fixture
def alerts(store: SqlStore) -> AlertStore:
    """The alerts port over the store's unit of work; alice (puid 1) and bob (puid 2)."""
    store.create_user("alice", NOW)
    store.create_user("bob", NOW)
    return AlertStore(store)


ALICE, BOB = 1, 2


def entry(puid: int, at: int, kind: AlertKind = AlertKind.HASHRATE) -> LogEntry:
    return LogEntry(puid, at, kind, "fired", f"m{at}", "7", "10", "T", 6)


def test_settings_default_to_btccom_no_alert(alerts: AlertStore) -> None:
    assert alerts.settings(ALICE) == NO_ALERT == AlertConfig(6, "0", "T", False, 0, False)
    assert alerts.all_settings() == {}


def test_update_merges_the_given_fields_and_normalises(alerts: AlertStore) -> None:
    stored = alerts.update_settings(ALICE, {"hashrate": "10.50", "hashrate_enabled": True}, NOW)
    assert stored == AlertConfig(6, "10.5", "T", True, 0, False)
    stored = alerts.update_settings(ALICE, {"interval": 3, "unit": "P"}, NOW + 1)
    assert stored == AlertConfig(3, "10.5", "P", True, 0, False)
    assert alerts.settings(ALICE) == stored and alerts.settings(BOB) == NO_ALERT
    assert alerts.all_settings() == {ALICE: stored}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"interval": 1}, "interval"),
        ({"interval": 25}, "interval"),
        ({"hashrate": "-1"}, "hashrate"),
        ({"hashrate": "1e3"}, "hashrate"),
        ({"unit": "X"}, "unit"),
        ({"unit": ""}, "unit"),
        ({"miners": -1}, "miners"),
        ({"hashrate_enabled": True}, "hashrate"),  # enabling a 0 threshold
        ({"miners_enabled": True}, "miners"),
    ],
)
def test_update_refuses_bad_values_naming_the_field_and_keeps_the_old(
    alerts: AlertStore, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        alerts.update_settings(ALICE, changes, NOW)
    assert alerts.settings(ALICE) == NO_ALERT


def test_turning_an_alert_off_forgets_its_state(alerts: AlertStore) -> None:
    alerts.update_settings(
        ALICE, {"hashrate": "1", "hashrate_enabled": True, "miners": 2, "miners_enabled": True}, NOW
    )
    firing = AlertState(2, 0, True, NOW)
    alerts.record({(ALICE, AlertKind.HASHRATE): firing, (ALICE, AlertKind.MINERS): firing}, [], NOW)
    alerts.update_settings(ALICE, {"hashrate_enabled": False}, NOW)
    assert alerts.states() == {(ALICE, AlertKind.MINERS): firing}


def test_record_writes_states_and_entries_together_and_idle_deletes(alerts: AlertStore) -> None:
    state = AlertState(1, 0, False, 0)
    ids = alerts.record({(ALICE, AlertKind.HASHRATE): state}, [entry(ALICE, NOW)], NOW)
    assert alerts.states() == {(ALICE, AlertKind.HASHRATE): state}
    assert [r["id"] for r in alerts.log(ALICE, 0, 10)[1]] == ids
    alerts.record({(ALICE, AlertKind.HASHRATE): IDLE}, [], NOW + 60)
    assert alerts.states() == {}


def test_contacts_crud_is_scoped_to_the_sub_account(alerts: AlertStore) -> None:
    made = alerts.create_contact(ALICE, "ops", "Ops@Example.COM", "", NOW)
    assert (made["puid"], made["note"], made["email"], made["webhook_url"]) == (
        ALICE,
        "ops",
        "Ops@example.com",
        None,
    )
    cid = made["id"]
    assert alerts.update_contact(BOB, cid, {"note": "mine"}, NOW) is None
    assert not alerts.delete_contact(BOB, cid)
    assert alerts.contacts(BOB) == []
    updated = alerts.update_contact(ALICE, cid, {"webhook_url": "https://h.example.com/x"}, NOW + 5)
    assert updated is not None
    assert (updated["email"], updated["webhook_url"], updated["updated_at"]) == (
        "Ops@example.com",
        "https://h.example.com/x",
        NOW + 5,
    )
    updated = alerts.update_contact(ALICE, cid, {"email": ""}, NOW + 6)  # '' removes it
    assert updated is not None and updated["email"] is None
    with pytest.raises(ValueError, match=r"^email: "):  # nothing left to notify
        alerts.update_contact(ALICE, cid, {"webhook_url": ""}, NOW + 7)
    assert alerts.contacts_of([ALICE, BOB]) == {ALICE: alerts.contacts(ALICE)}
    assert alerts.delete_contact(ALICE, cid) and alerts.contacts(ALICE) == []


def test_contact_needs_an_email_or_a_webhook(alerts: AlertStore) -> None:
    with pytest.raises(ValueError, match=r"^email: "):
        alerts.create_contact(ALICE, "nobody", "", None, NOW)


def test_at_most_ten_contacts_per_sub_account(alerts: AlertStore) -> None:
    for i in range(10):
        alerts.create_contact(ALICE, f"c{i}", f"c{i}@example.com", None, NOW)
    with pytest.raises(TooManyContacts, match=r"^puid: "):
        alerts.create_contact(ALICE, "c10", "c10@example.com", None, NOW)
    alerts.create_contact(BOB, "b", "b@example.com", None, NOW)  # another sub-account's own


def test_deleted_contact_ids_are_never_reused(alerts: AlertStore) -> None:
    first = alerts.create_contact(ALICE, "", "a@example.com", None, NOW)["id"]
    alerts.delete_contact(ALICE, first)
    assert alerts.create_contact(ALICE, "", "a@example.com", None, NOW)["id"] == first + 1


def test_log_pages_newest_first_and_marks_read_only_its_own(alerts: AlertStore) -> None:
    ids = alerts.append_log([entry(ALICE, NOW + i) for i in range(5)] + [entry(BOB, NOW)])
    total, page = alerts.log(ALICE, 0, 2)
    assert total == 5 and [r["id"] for r in page] == [ids[4], ids[3]]
    assert [r["id"] for r in alerts.log(ALICE, 4, 2)[1]] == [ids[0]]
    assert not alerts.mark_read(ALICE, ids[5])  # bob's
    assert alerts.mark_read(ALICE, ids[0]) and alerts.mark_read(ALICE, ids[0])
    read = {r["id"]: r["is_read"] for r in alerts.log(ALICE, 0, 10)[1]}
    assert read == {ids[0]: True, **{i: False for i in ids[1:5]}}
    assert alerts.log(BOB, 0, 10)[1][0]["is_read"] is False


def test_names_of_sub_accounts(alerts: AlertStore) -> None:
    assert alerts.names([ALICE, BOB, 99]) == {ALICE: "alice", BOB: "bob"}
