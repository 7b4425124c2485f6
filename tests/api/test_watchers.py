"""Watcher links (BTC.COM's observers): made, listed and deleted by the sub-account's owner;
their token reads every read endpoint of that one sub-account, and nothing else (20002)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ALICE, BOB, Node
from tests.api.golden import NOW, RIG1, RIG2, load

CREATED_AT = "2023-11-14 22:13:20"  # T0 = 1_700_000_000 in UTC, worked out by hand
HISTORY = {"dimension": "1h", "start_ts": -7200, "count": 3}
# Reads that are the account's business, not the sub-account's: a token gets 20002.
OWNER_ONLY = {
    "/v1/account/watcher/list",
    "/v1/account/sub-account/list",
    "/v1/account/sub-account/morelist",
    "/v1/alert/contacts/my",  # webhook URLs often carry secrets of their own
    "/v1/alert/contacts/get",
}
# Reads that describe the caller itself: a token's answer differs from the owner's by design
# (test_access_says_what_a_key_or_token_may_do).
ABOUT_CALLER = {"/v1/account/access"}
# Reads with a required parameter of their own.
REQUIRED = {"/v1/alert/contacts/get": {"id": 1}}
# A write BTC.COM documented as a GET: a token gets 20002 there, as on every write.
WRITE_BY_GET = "/v1/alert/read"


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def share(node: Node, note: str = "Wang Yang", user: str = "alice", **params: Any) -> Any:
    """POST watcher/create; the envelope."""
    return node.api("POST", "/v1/account/watcher/create", user, note=note, **params)


def token_of(node: Node, user: str = "alice", **params: Any) -> str:
    body = share(node, user=user, **params)
    assert body["err_no"] == 0, body
    token: str = body["data"]["watcher_key"]
    return token


def watch(node: Node, method: str, path: str, token: str, **params: Any) -> Any:
    """A call with ``watcher_token`` and no access key; the envelope."""
    return node.api(method, path, "", watcher_token=token, **params)


def test_a_link_is_shown_whole_once_then_listed_by_its_prefix(node: Node) -> None:
    body = share(node, note=" Wang Yang ")
    assert body["err_no"] == 0 and body["err_msg"] is None
    made = body["data"]
    token = made["watcher_key"]
    assert token.startswith("r_") and len(token) == 34  # "r_" and 32 random characters
    assert made == {"status": True, "id": 1, "puid": ALICE, "watcher_key": token,
                    "note": "Wang Yang", "created_at": CREATED_AT}  # fmt: skip
    listed = node.data("/v1/account/watcher/list")
    assert listed == [
        {"id": 1, "uid": 1, "puid": ALICE, "watcher_key": token[:8] + "***", "note": "Wang Yang",
         "created_at": CREATED_AT, "updated_at": CREATED_AT}
    ]  # fmt: skip
    assert token not in str(listed)
    assert node.data("/v1/account/watcher/list", user="bob") == []


def test_a_token_reads_every_read_endpoint_as_the_owners_key_does(loaded: Node) -> None:
    token = token_of(loaded)
    assert loaded.api("POST", "/v1/groups/create", group_name="west")["err_no"] == 0
    gid = next(g["gid"] for g in loaded.data("/v1/groups/simple") if g["name"] == "west")
    ids = {"{worker_id}": str(RIG1), "{gid}": str(gid)}
    document = loaded.client.get("/openapi.json").json()
    reads = [
        path
        for path, operations in document["paths"].items()
        if "get" in operations
        and "access_key" in {p["name"] for p in operations["get"].get("parameters", [])}
        and path != WRITE_BY_GET
    ]
    refused = watch(loaded, "GET", WRITE_BY_GET, token, log_id=1)
    assert refused["err_no"] == 20002 and refused["data"] is None
    assert "/v1/worker" in reads and "/v1/realtime/hashrate" in reads and len(reads) >= 12
    for template in reads:
        path = template
        for name, value in ids.items():
            path = path.replace(name, value)
        params = {**HISTORY, **REQUIRED.get(template, {})}
        owner = loaded.api("GET", path, **params)
        watcher = watch(loaded, "GET", path, token, **params)
        if template in ABOUT_CALLER:
            assert owner["err_no"] == watcher["err_no"] == 0, path
        elif template in OWNER_ONLY:
            assert watcher["err_no"] == 20002 and watcher["data"] is None, path
            assert owner["err_no"] == 0, (path, owner)
        else:
            assert owner["err_no"] == 0, (path, owner)
            assert watcher == owner, path
    # the puid named explicitly is the same sub-account
    assert watch(loaded, "GET", "/v1/worker", token, puid=ALICE)["err_no"] == 0


def test_a_token_used_for_another_puid_gets_20002(loaded: Node) -> None:
    token = token_of(loaded)
    for path in ("/v1/worker", "/v1/worker/stats", f"/v1/worker/{RIG1}",
                 "/v1/realtime/hashrate", "/v1/account/info"):  # fmt: skip
        body = watch(loaded, "GET", path, token, puid=BOB)
        assert body["err_no"] == 20002 and body["data"] is None, path
        assert "puid" in body["err_msg"] and token not in body["err_msg"]
    # bob's token does not open alice's worker under its own puid either
    bobs = token_of(loaded, user="bob")
    assert watch(loaded, "GET", f"/v1/worker/{RIG1}", bobs)["err_no"] == 20001


def _alice_state(node: Node) -> Any:
    store = node.service.store
    return (
        store.workers(ALICE), store.groups(ALICE), store.subaccount_profile(ALICE),
        store.watchers(ALICE), store.account_subaccounts(1),
    )  # fmt: skip


def test_a_token_cannot_write_anything_20002(loaded: Node) -> None:
    token = token_of(loaded)
    assert loaded.api("POST", "/v1/groups/create", group_name="west")["err_no"] == 0
    gid = next(g["gid"] for g in loaded.data("/v1/groups/simple") if g["name"] == "west")
    before = _alice_state(loaded)
    writes = [
        ("/v1/worker/update", {"worker_id": str(RIG2), "group_id": gid}),
        ("/v1/groups/create", {"group_name": "x"}),
        (f"/v1/groups/update/{gid}", {"group_name": "x"}),
        (f"/v1/groups/delete/{gid}", {}),
        ("/v1/account/pay/limit", {"amount": "0.01"}),
        ("/v1/alert/setting/update", {"interval": 2}),
        ("/v1/alert/contacts/create", {"note": "me", "email": "a@example.com"}),
        ("/v1/account/watcher/create", {"note": "another"}),
        ("/v1/account/watcher/delete", {"watcher_id": 1}),
        ("/v1/account/sub-account/create",
         {"worker_name": "farm9", "bitcoin_address": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"}),
    ]  # fmt: skip
    for path, params in writes:
        for extra in ({}, {"puid": ALICE}):
            body = watch(loaded, "POST", path, token, **params, **extra)
            assert body["err_no"] == 20002, (path, body)
    assert _alice_state(loaded) == before


def test_deleting_a_link_stops_its_token_at_once(loaded: Node) -> None:
    token = token_of(loaded)
    kept = token_of(loaded, note="kept")
    assert watch(loaded, "GET", "/v1/worker/stats", token)["err_no"] == 0
    body = loaded.api("POST", "/v1/account/watcher/delete", watcher_id=1)
    assert body == {"err_no": 0, "err_msg": None, "data": {"status": True}}
    # no time passes: the very next call is refused (BTC.COM's "observer expired": 20001)
    gone = watch(loaded, "GET", "/v1/worker/stats", token)
    assert gone["err_no"] == 20001 and gone["data"] is None
    assert watch(loaded, "GET", "/v1/worker/stats", kept)["err_no"] == 0
    assert [w["id"] for w in loaded.data("/v1/account/watcher/list")] == [2]


def test_only_the_owner_deletes_a_link(loaded: Node) -> None:
    token = token_of(loaded)
    for user, params in (("bob", {}), ("bob", {"puid": ALICE})):
        body = loaded.api("POST", "/v1/account/watcher/delete", user, watcher_id=1, **params)
        assert body["err_no"] == 20001, (user, params, body)
    assert watch(loaded, "GET", "/v1/worker/stats", token)["err_no"] == 0
    unknown = loaded.api("POST", "/v1/account/watcher/delete", watcher_id=99)
    assert unknown["err_no"] == 20001 and "watcher_id" in unknown["err_msg"]


def test_a_read_only_key_lists_links_but_cannot_make_or_delete_them(loaded: Node) -> None:
    token_of(loaded)
    key = loaded.service.store.create_key("alice", True, NOW)
    listed = loaded.client.get("/v1/account/watcher/list", params={"access_key": key}).json()
    assert [w["id"] for w in listed["data"]] == [1]
    for path, params in (("/v1/account/watcher/create", {"note": "ro"}),
                         ("/v1/account/watcher/delete", {"watcher_id": 1})):  # fmt: skip
        body = loaded.client.post(path, params={"access_key": key, **params}).json()
        assert body["err_no"] == 20001, path
    assert len(loaded.service.store.watchers(ALICE)) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"note": "a"}, "note"),
        ({"note": "x" * 21}, "note"),
        ({"note": "  "}, "note"),
        ({}, "note"),
    ],
)
def test_bad_create_parameters_are_err_no_1_naming_the_field(
    node: Node, params: dict[str, Any], field: str
) -> None:
    body = node.api("POST", "/v1/account/watcher/create", **params)
    assert body["err_no"] == 1 and body["err_msg"].startswith(field), body
    assert node.service.store.watchers(ALICE) == []


@pytest.mark.parametrize("watcher_id", ["abc", "1.0", "0", ""])
def test_bad_watcher_ids_are_err_no_1(node: Node, watcher_id: str) -> None:
    body = node.api("POST", "/v1/account/watcher/delete", watcher_id=watcher_id)
    assert body["err_no"] == 1 and body["err_msg"].startswith("watcher_id"), body


def test_others_list_shows_what_each_token_opens(loaded: Node) -> None:
    alice, bob = token_of(loaded), token_of(loaded, user="bob")
    tokens = ",".join([alice, "r_unknown", bob, alice])
    body = loaded.api("GET", "/v1/account/watcher/others-list", "", watcher_token=tokens)
    assert body["err_no"] == 0
    # alice: 60 * 2^20 in 15 minutes = 2^46 * 60 / 900 H/s = 300.2 T; rig1 ACTIVE, rig2
    # INACTIVE, rig3 DEAD. bob: 10 * 2^16 -> 2^48 / 90 = 3.127 T, one ACTIVE worker.
    assert body["data"] == [
        {"token": alice, "puid": ALICE, "name": "alice", "region_id": 1,
         "hashrate_value": "300.2", "hashrate_unit": "T", "miners": "3", "miners_active": "1"},
        {"token": bob, "puid": BOB, "name": "bob", "region_id": 1,
         "hashrate_value": "3.127", "hashrate_unit": "T", "miners": "1", "miners_active": "1"},
    ]  # fmt: skip
    nothing = loaded.api("GET", "/v1/account/watcher/others-list", "", watcher_token="r_x")
    assert nothing == {"err_no": 0, "err_msg": None, "data": []}
    missing = loaded.api("GET", "/v1/account/watcher/others-list", "")
    assert missing["err_no"] == 1 and missing["err_msg"].startswith("watcher_token")
    many = ",".join(f"r_{i}" for i in range(21))
    too_many = loaded.api("GET", "/v1/account/watcher/others-list", "", watcher_token=many)
    assert too_many["err_no"] == 1 and too_many["err_msg"].startswith("watcher_token")


def test_unknown_tokens_count_as_wrong_keys_and_are_throttled(node: Node) -> None:
    token = token_of(node)
    limit = node.service.settings.auth_failure_limit
    for i in range(limit):
        body = watch(node, "GET", "/v1/worker/stats", f"r_guess{i}")
        assert body["err_no"] == 20001 and f"r_guess{i}" not in body["err_msg"]
    throttled = node.client.get("/v1/worker/stats", params={"watcher_token": token})
    assert throttled.status_code == 429 and throttled.json()["err_no"] == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    listed = node.client.get("/v1/account/watcher/others-list", params={"watcher_token": token})
    assert listed.status_code == 429  # the same throttle: no other way to guess
    node.clock.advance(node.service.settings.auth_failure_window_s)
    assert watch(node, "GET", "/v1/worker/stats", token)["err_no"] == 0


def test_an_access_key_wins_over_a_watcher_token_given_with_it(loaded: Node) -> None:
    token = token_of(loaded, user="bob")
    body = loaded.api("GET", "/v1/account/info", watcher_token=token)  # with alice's key
    assert body["err_no"] == 0 and body["data"]["user_name"] == "alice"


def test_keys_and_tokens_come_in_headers_too_and_a_parameter_wins(loaded: Node) -> None:
    """The dashboard's way: X-Access-Key and X-Watcher-Token, never the URL."""
    token = token_of(loaded)
    by_query = loaded.api("GET", "/v1/worker/stats")
    assert by_query["err_no"] == 0
    get = loaded.client.get
    by_key = get("/v1/worker/stats", headers={"X-Access-Key": loaded.key["alice"]}).json()
    by_token = get("/v1/worker/stats", headers={"X-Watcher-Token": token}).json()
    assert by_key == by_query and by_token == by_query
    bobs = get("/v1/worker/stats", headers={"X-Access-Key": loaded.key["bob"]}).json()
    assert bobs["err_no"] == 0 and bobs != by_query  # bob's own sub-account
    wins = get(
        "/v1/worker/stats",
        params={"access_key": loaded.key["alice"]},
        headers={"X-Access-Key": loaded.key["bob"]},
    ).json()
    assert wins == by_query
    wrong = get("/v1/worker/stats", headers={"X-Access-Key": "no-such-key"}).json()
    assert wrong["err_no"] == 20001 and wrong["err_msg"] == "access_key: unknown or revoked"
    refused = loaded.client.post(
        "/v1/groups/create", data={"group_name": "x"}, headers={"X-Watcher-Token": token}
    ).json()
    assert refused["err_no"] == 20002
    by_key_header = {"X-Access-Key": loaded.key["alice"]}
    made = loaded.client.post("/v1/groups/create", data={"group_name": "x"}, headers=by_key_header)
    assert made.json()["err_no"] == 0


def test_access_says_what_a_key_or_token_may_do(loaded: Node) -> None:
    token = token_of(loaded)
    assert loaded.data("/v1/account/access") == {
        "puid": ALICE, "puids": [ALICE], "read_only": False, "watcher": False,
    }  # fmt: skip
    assert watch(loaded, "GET", "/v1/account/access", token)["data"] == {
        "puid": ALICE, "puids": [ALICE], "read_only": True, "watcher": True,
    }  # fmt: skip
    read_only = loaded.service.store.create_key("alice", True, int(loaded.clock.now()))
    answer = loaded.client.get("/v1/account/access", headers={"X-Access-Key": read_only})
    assert answer.json()["data"] == {
        "puid": ALICE, "puids": [ALICE], "read_only": True, "watcher": False,
    }  # fmt: skip
    refused = loaded.client.get("/v1/account/access", headers={"X-Access-Key": "nope"})
    assert refused.json()["err_no"] == 20001
