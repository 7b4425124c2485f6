"""BTC.COM's alert endpoints, golden: every answer below is written out by hand."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from poolstats.api.btccom.alerts import alert_settings
from poolstats.api.btccom.schemas import AlertSettings, HashrateUnit
from poolstats.domain.alerts import HASHRATE_UNITS, AlertKind
from poolstats.store.alerts import AlertStore, LogEntry
from tests.api.conftest import ALICE, BOB, T0, Node
from tests.api.golden import load

NOW = int(T0)
STAMP = "2023-11-14 22:13:20"  # T0 in UTC
OK = {"err_no": 0, "err_msg": None, "data": {"status": True}}
NO_ALERT = AlertSettings("0", "0", "T", 0, "0", "0", 0, 6)


def post(node: Node, path: str, user: str = "alice", **params: Any) -> Any:
    return node.api("POST", path, user, **params)


def refused(answer: dict[str, Any], err_no: int, field: str) -> bool:
    return (
        answer["err_no"] == err_no
        and answer["data"] is None
        and (answer["err_msg"].startswith(f"{field}: "))
    )


# --- settings -------------------------------------------------------------------------------


def test_settings_update_golden_and_the_account_info_object(node: Node) -> None:
    assert alert_settings(node.service.store, ALICE) == NO_ALERT
    answer = post(
        node,
        "/v1/alert/setting/update",
        interval=3,
        hashrate="10.50",
        unit="P",
        hashrate_enabled=1,
        miners=5,
        miners_enabled=1,
    )
    assert answer == OK
    assert alert_settings(node.service.store, ALICE) == AlertSettings(
        hashrate_max="0",  # no shares yet
        hashrate_value="10.5",
        hashrate_unit="P",
        hashrate_alert=1,
        miner_max="0",
        miner_value="5",
        miner_alert=1,
        alert_interval=3,
    )
    assert alert_settings(node.service.store, BOB) == NO_ALERT


def test_max_figures_are_the_sub_account_now_in_the_chosen_unit(node: Node) -> None:
    load(node)  # rig1: 60 * 2^20 in 15 minutes = 2^52 / 900 H/s = 300.2 TH/s; 1 ACTIVE
    assert post(node, "/v1/alert/setting/update", unit="T") == OK
    shown = alert_settings(node.service.store, ALICE)
    assert (shown.hashrate_max, shown.miner_max) == ("300.2", "1")
    assert post(node, "/v1/alert/setting/update", unit="P") == OK
    assert alert_settings(node.service.store, ALICE).hashrate_max == "0.3002"


def test_fields_left_out_keep_their_values_and_json_bodies_work(node: Node) -> None:
    post(node, "/v1/alert/setting/update", hashrate=7, hashrate_enabled=1)
    body = node.client.post(
        "/v1/alert/setting/update",
        params={"access_key": node.key["alice"]},
        json={"interval": 12, "miners": 3, "miners_enabled": 1},
    ).json()
    assert body == OK
    assert alert_settings(node.service.store, ALICE) == AlertSettings(
        "0", "7", "T", 1, "0", "3", 1, 12
    )
    post(node, "/v1/alert/setting/update", hashrate_enabled=0)  # turned off, threshold kept
    assert alert_settings(node.service.store, ALICE) == AlertSettings(
        "0", "7", "T", 0, "0", "3", 1, 12
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": 1}, "interval"),
        ({"interval": 25}, "interval"),
        ({"interval": "6h"}, "interval"),
        ({"hashrate": "-1"}, "hashrate"),
        ({"hashrate": "ten"}, "hashrate"),
        ({"hashrate": "1e3"}, "hashrate"),
        ({"unit": "TH"}, "unit"),
        ({"unit": "t"}, "unit"),
        ({"hashrate_enabled": 2}, "hashrate_enabled"),
        ({"hashrate_enabled": 1}, "hashrate"),  # nothing to compare with: threshold 0
        ({"miners": -1}, "miners"),
        ({"miners": "1.5"}, "miners"),
        ({"miners_enabled": 1}, "miners"),
        ({"miners_enabled": "yes"}, "miners_enabled"),
    ],
)
def test_settings_refusals_name_the_field_and_change_nothing(
    node: Node, params: dict[str, Any], field: str
) -> None:
    answer = post(node, "/v1/alert/setting/update", **params)
    assert refused(answer, 1, field), answer
    assert alert_settings(node.service.store, ALICE) == NO_ALERT


# --- contacts -------------------------------------------------------------------------------


def test_contacts_create_list_update_delete_golden(node: Node) -> None:
    assert post(node, "/v1/alert/contacts/create", note="ops", email="Ops@Example.com") == OK
    hook = "https://hooks.example.com/T0/abc"
    assert post(node, "/v1/alert/contacts/create", webhook_url=hook) == OK
    assert node.data("/v1/alert/contacts/my") == [
        {
            "id": 1,
            "uid": 1,
            "puid": ALICE,
            "note": "ops",
            "email": "Ops@example.com",
            "webhook_url": None,
            "created_at": STAMP,
            "updated_at": STAMP,
        },
        {
            "id": 2,
            "uid": 1,
            "puid": ALICE,
            "note": "",
            "email": None,
            "webhook_url": hook,
            "created_at": STAMP,
            "updated_at": STAMP,
        },
    ]
    node.clock.advance(61)
    assert post(node, "/v1/alert/contacts/update", id=1, webhook_url=hook, email="") == OK
    assert post(node, "/v1/alert/contacts/delete", id=2) == OK
    assert node.data("/v1/alert/contacts/my") == [
        {
            "id": 1,
            "uid": 1,
            "puid": ALICE,
            "note": "ops",
            "email": None,
            "webhook_url": hook,
            "created_at": STAMP,
            "updated_at": "2023-11-14 22:14:21",
        }
    ]
    assert node.data("/v1/alert/contacts/my", user="bob") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"note": "nobody"}, "email"),
        ({"email": "ops@localhost"}, "email"),
        ({"email": "a@b.com\r\nBcc: x@y.com"}, "email"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"webhook_url": "https:///x"}, "webhook_url"),
        ({"email": "a@example.com", "note": "x" * 65}, "note"),
        ({"email": "a@example.com", "phone": "13881963797", "region_code": "86"}, "phone"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
    ],
)
def test_contact_refusals_name_the_field(node: Node, params: dict[str, Any], field: str) -> None:
    answer = post(node, "/v1/alert/contacts/create", **params)
    assert refused(answer, 1, field), answer
    assert node.data("/v1/alert/contacts/my") == []


def test_at_most_ten_contacts(node: Node) -> None:
    for i in range(10):
        assert post(node, "/v1/alert/contacts/create", email=f"c{i}@example.com") == OK
    answer = post(node, "/v1/alert/contacts/create", email="c10@example.com")
    assert refused(answer, 1, "puid"), answer
    assert len(node.data("/v1/alert/contacts/my")) == 10


def test_update_refusals(node: Node) -> None:
    post(node, "/v1/alert/contacts/create", email="a@example.com")
    assert refused(post(node, "/v1/alert/contacts/update", id=1, email=""), 1, "email")
    assert refused(post(node, "/v1/alert/contacts/update", id=1, email="x"), 1, "email")
    assert refused(post(node, "/v1/alert/contacts/update", email="b@example.com"), 1, "id")
    assert refused(post(node, "/v1/alert/contacts/update", id=99, note="x"), 20001, "id")
    assert refused(post(node, "/v1/alert/contacts/delete", id=99), 20001, "id")
    assert refused(post(node, "/v1/alert/contacts/delete", id="one"), 1, "id")
    assert node.data("/v1/alert/contacts/my")[0]["email"] == "a@example.com"


# --- the log --------------------------------------------------------------------------------


def log_entries(node: Node) -> list[int]:
    """alice: a fired and a recovered hashrate entry and a miners one; bob: one."""
    return AlertStore(node.service.store).append_log(
        [
            LogEntry(ALICE, NOW - 300, AlertKind.HASHRATE, "fired", "m1", "7.000", "10", "T", 3),
            LogEntry(ALICE, NOW - 200, AlertKind.MINERS, "fired", "m2", "99", "100", "", 3),
            LogEntry(
                ALICE, NOW - 100, AlertKind.HASHRATE, "recovered", "m3", "12.00", "10", "T", 3
            ),
            LogEntry(BOB, NOW, AlertKind.HASHRATE, "fired", "m4", "1", "2", "G", 6),
        ]
    )


def test_alert_get_golden_newest_first_paged(node: Node) -> None:
    ids = log_entries(node)
    post(node, "/v1/alert/setting/update", interval=4)
    assert node.data("/v1/alert/get", page_size=2) == [
        {
            "id": ids[2],
            "uid": 1,
            "puid": ALICE,
            "puid_name": "alice",
            "type": "hashrate",
            "event": "recovered",
            "expect": "10",
            "actual": "12.00",
            "unit": "T",
            "created_at": NOW - 100,
            "is_read": 0,
            "interval": 3,
            "now_interval": 4,
            "message": "m3",
        },
        {
            "id": ids[1],
            "uid": 1,
            "puid": ALICE,
            "puid_name": "alice",
            "type": "miners",
            "event": "fired",
            "expect": "100",
            "actual": "99",
            "unit": None,
            "created_at": NOW - 200,
            "is_read": 0,
            "interval": 3,
            "now_interval": 4,
            "message": "m2",
        },
    ]
    assert [e["id"] for e in node.data("/v1/alert/get", page=2, page_size=2)] == [ids[0]]
    assert node.data("/v1/alert/get", page=3, page_size=2) == []
    assert [e["message"] for e in node.data("/v1/alert/get", user="bob")] == ["m4"]


def test_alert_read_marks_only_its_own(node: Node) -> None:
    ids = log_entries(node)
    assert post(node, "/v1/alert/read", log_id=ids[0]) == OK
    assert post(node, "/v1/alert/read", log_id=ids[0]) == OK  # twice is fine
    assert {e["id"]: e["is_read"] for e in node.data("/v1/alert/get")} == {
        ids[2]: 0,
        ids[1]: 0,
        ids[0]: 1,
    }
    assert refused(post(node, "/v1/alert/read", log_id=ids[3]), 20001, "log_id")  # bob's
    assert refused(post(node, "/v1/alert/read"), 1, "log_id")
    # BTC.COM's documented GET form does the same
    assert node.api("GET", "/v1/alert/read", log_id=ids[1]) == OK
    assert refused(node.api("GET", "/v1/alert/read", "bob", log_id=ids[1]), 20001, "log_id")
    assert {e["id"]: e["is_read"] for e in node.data("/v1/alert/get")}[ids[1]] == 1
    assert refused(post(node, "/v1/alert/read", log_id=0), 1, "log_id")
    assert node.data("/v1/alert/get", user="bob")[0]["is_read"] == 0


def test_single_purpose_setting_endpoints_change_only_their_part(node: Node) -> None:
    """BTC.COM's /alert/setting/interval, /hashrate and /miners (docs/alert.md)."""
    assert post(node, "/v1/alert/setting/interval", interval=5) == OK
    assert post(node, "/v1/alert/setting/hashrate", hashrate="2.5", enabled=1, unit="P") == OK
    assert post(node, "/v1/alert/setting/miners", miners=7, enabled=1) == OK
    after = AlertSettings("0", "2.5", "P", 1, "0", "7", 1, 5)
    assert alert_settings(node.service.store, ALICE) == after
    # unit defaults to T, as BTC.COM documented; turning an alert off keeps its threshold
    assert post(node, "/v1/alert/setting/hashrate", hashrate="3", enabled=0) == OK
    assert post(node, "/v1/alert/setting/miners", miners=7, enabled=0) == OK
    after = AlertSettings("0", "3", "T", 0, "0", "7", 0, 5)
    assert alert_settings(node.service.store, ALICE) == after


def test_account_alert_update_sets_thresholds_in_t_and_keeps_the_switches(node: Node) -> None:
    """BTC.COM's POST /account/alert/update (its account document): hashrate in T, miner."""
    assert post(node, "/v1/alert/setting/update", hashrate="2", unit="P", hashrate_enabled=1) == OK
    assert post(node, "/v1/account/alert/update", hashrate=150, miner=9) == OK
    after = AlertSettings("0", "150", "T", 1, "0", "9", 0, 6)
    assert alert_settings(node.service.store, ALICE) == after
    assert post(node, "/v1/account/alert/update", miner=3) == OK  # hashrate left as it was
    assert alert_settings(node.service.store, ALICE) == AlertSettings(
        "0", "150", "T", 1, "0", "3", 0, 6
    )
    assert refused(post(node, "/v1/account/alert/update", hashrate=-1), 1, "hashrate")
    assert refused(post(node, "/v1/account/alert/update", miner="x"), 1, "miner")
    assert (
        node.api("POST", "/v1/account/alert/update", "bob", puid=ALICE, miner=1)["err_no"] == 20001
    )


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/alert/setting/interval", {}, "interval"),
        ("/v1/alert/setting/interval", {"interval": 1}, "interval"),
        ("/v1/alert/setting/interval", {"interval": 25}, "interval"),
        ("/v1/alert/setting/hashrate", {"hashrate": "1"}, "enabled"),
        ("/v1/alert/setting/hashrate", {"enabled": 1}, "hashrate"),
        ("/v1/alert/setting/hashrate", {"hashrate": "-1", "enabled": 1}, "hashrate"),
        ("/v1/alert/setting/hashrate", {"hashrate": "1", "enabled": 2}, "enabled"),
        ("/v1/alert/setting/hashrate", {"hashrate": "1", "enabled": 1, "unit": "X"}, "unit"),
        ("/v1/alert/setting/miners", {"enabled": 1}, "miners"),
        ("/v1/alert/setting/miners", {"miners": -1, "enabled": 1}, "miners"),
    ],
)
def test_single_purpose_refusals_name_the_field_and_change_nothing(
    node: Node, path: str, params: dict[str, Any], field: str
) -> None:
    assert refused(post(node, path, **params), 1, field)
    assert alert_settings(node.service.store, ALICE) == NO_ALERT


def test_contacts_get_one_by_id_or_null(node: Node) -> None:
    assert post(node, "/v1/alert/contacts/create", note="ops", email="a@example.com") == OK
    assert post(node, "/v1/alert/contacts/create", "bob", email="b@example.com") == OK
    assert node.data("/v1/alert/contacts/get", id=1) == {
        "id": 1,
        "uid": 1,
        "puid": ALICE,
        "note": "ops",
        "email": "a@example.com",
        "webhook_url": None,
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    assert node.data("/v1/alert/contacts/get", id=2) is None  # bob's
    assert node.data("/v1/alert/contacts/get", id=3) is None  # nobody's
    assert refused(node.api("GET", "/v1/alert/contacts/get"), 1, "id")
    assert refused(node.api("GET", "/v1/alert/contacts/get", id="x"), 1, "id")


# --- who may call ---------------------------------------------------------------------------

WRITES: list[tuple[str, dict[str, Any]]] = [
    ("/v1/alert/setting/update", {"interval": 3}),
    ("/v1/alert/contacts/create", {"email": "x@example.com"}),
    ("/v1/alert/contacts/update", {"id": 1, "note": "x"}),
    ("/v1/alert/contacts/delete", {"id": 1}),
    ("/v1/alert/read", {"log_id": 1}),
    ("/v1/alert/setting/interval", {"interval": 3}),
    ("/v1/alert/setting/hashrate", {"hashrate": "1", "enabled": 1}),
    ("/v1/alert/setting/miners", {"miners": 1, "enabled": 1}),
    ("/v1/account/alert/update", {"miner": 1}),
]


def test_another_accounts_key_gets_20001_everywhere(node: Node) -> None:
    post(node, "/v1/alert/contacts/create", email="a@example.com")
    log_entries(node)
    for path, params in WRITES:
        assert node.api("POST", path, "bob", puid=ALICE, **params)["err_no"] == 20001, path
    for path in ("/v1/alert/get", "/v1/alert/contacts/my"):
        assert node.api("GET", path, "bob", puid=ALICE)["err_no"] == 20001, path
    assert node.api("GET", "/v1/alert/contacts/get", "bob", puid=ALICE, id=1)["err_no"] == 20001
    assert node.data("/v1/alert/contacts/get", "bob", id=1) is None  # not bob's contact
    # bob's own puid does not reach alice's contact or log entry by id either
    assert refused(post(node, "/v1/alert/contacts/update", "bob", id=1, note="x"), 20001, "id")
    assert refused(post(node, "/v1/alert/contacts/delete", "bob", id=1), 20001, "id")
    assert refused(post(node, "/v1/alert/read", "bob", log_id=1), 20001, "log_id")
    assert node.data("/v1/alert/contacts/my")[0]["note"] == ""
    assert alert_settings(node.service.store, ALICE) == NO_ALERT


def test_read_only_key_reads_but_never_writes(node: Node) -> None:
    post(node, "/v1/alert/contacts/create", email="a@example.com")
    log_entries(node)
    key = node.service.store.create_key("alice", True, NOW)
    for path, params in WRITES:
        answer = node.client.post(path, params={"access_key": key, **params}).json()
        assert answer["err_no"] == 20001, (path, answer)
    for path in ("/v1/alert/get", "/v1/alert/contacts/my"):
        answer = node.client.get(path, params={"access_key": key}).json()
        assert answer["err_no"] == 0 and len(answer["data"]) in (1, 3), path
    assert node.data("/v1/alert/contacts/my")[0]["note"] == ""


def test_no_key_gets_20001(node: Node) -> None:
    answer = node.api("GET", "/v1/alert/get", user="")
    assert answer["err_no"] == 20001


def test_writes_are_post_only_and_paths_take_a_trailing_slash(node: Node) -> None:
    response = node.client.get(
        "/v1/alert/contacts/create", params={"access_key": node.key["alice"]}
    )
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert node.data("/v1/alert/contacts/my/") == node.data("/v1/alert/contacts/my") == []


AUTH = {"access_key", "puid", "X-Access-Key", "X-Watcher-Token"}  # every keyed endpoint's


def test_openapi_documents_the_alert_endpoints_and_list_answers(node: Node) -> None:
    document = node.client.get("/openapi.json").json()
    wanted = {
        ("post", "/v1/alert/setting/update"): {
            "interval", "hashrate", "unit", "hashrate_enabled", "miners", "miners_enabled"
        },
        ("get", "/v1/alert/get"): {"page", "page_size"},
        ("post", "/v1/alert/read"): {"log_id"},
        ("get", "/v1/alert/contacts/my"): set(),
        ("post", "/v1/alert/contacts/create"): {"note", "email", "webhook_url"},
        ("post", "/v1/alert/contacts/update"): {"id", "note", "email", "webhook_url"},
        ("post", "/v1/alert/contacts/delete"): {"id"},
    }  # fmt: skip
    for (method, path), names in wanted.items():
        operation = document["paths"][path][method]
        assert {p["name"] for p in operation["parameters"]} == names | AUTH
    data = document["paths"]["/v1/alert/get"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["properties"]["data"]
    assert data["anyOf"][0] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/AlertLogItem"},
    }
    assert {"AlertLogItem", "AlertContactItem"} <= set(document["components"]["schemas"])


def test_api_units_are_the_domain_units() -> None:
    assert typing.get_args(HashrateUnit) == HASHRATE_UNITS
