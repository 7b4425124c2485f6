"""A key only ever sees and changes its own sub-accounts; bad parameters are err_no 1,
never a 500; sort and filter cannot be used to inject SQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.api.conftest import Node
from tests.api.golden import RIG1, RIG2, load
from tests.api.test_openapi import ENDPOINTS

READS = [
    "/v1/worker/stats",
    "/v1/worker/groups",
    "/v1/worker/share-history?dimension=1h&start_ts=-7200&count=3",
    "/v1/worker",
    "/v1/account/info",
    "/v1/account/earn-stats",
    "/v1/account/earn-history",
    "/v1/realtime/hashrate",
]


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def _alice_state(node: Node) -> Any:
    store = node.service.store
    return (store.workers(1), store.groups(1), store.subaccount_profile(1))


def _gid(node: Node, user: str = "alice", name: str = "mine") -> int:
    """A new group's gid: ``create`` answers ``{"status": true}``, ``simple`` names it."""
    assert node.api("POST", "/v1/groups/create", user, group_name=name)["err_no"] == 0
    return next(g["gid"] for g in node.data("/v1/groups/simple", user) if g["name"] == name)


def test_another_accounts_key_reads_nothing_of_alice(loaded: Node) -> None:
    gid = _gid(loaded)
    paths = [
        *READS,
        f"/v1/worker/{RIG1}",
        f"/v1/worker/{RIG1}/share-history?dimension=1h&start_ts=-7200&count=3",
        f"/v1/groups/{gid}",
    ]
    for path in paths:
        # bob names alice's puid: refused
        answer = loaded.client.get(path, params={"access_key": loaded.key["bob"], "puid": 1})
        assert answer.json()["err_no"] == 20001, path
        assert answer.json()["data"] is None
    for path in paths[-3:]:  # alice's worker and group ids under bob's own puid: not his
        answer = loaded.client.get(path, params={"access_key": loaded.key["bob"]})
        assert answer.json()["err_no"] == 20001, path
    workers = loaded.data("/v1/worker", user="bob")["data"]
    assert [w["worker_name"] for w in workers] == ["bobrig"]


def test_another_accounts_key_changes_nothing_of_alice(loaded: Node) -> None:
    gid = _gid(loaded)
    before = _alice_state(loaded)
    bob_gid = _gid(loaded, "bob", "b")
    attempts = [
        ("/v1/worker/update", {"worker_id": str(RIG1), "group_id": 0, "puid": 1}),
        ("/v1/worker/update", {"worker_id": str(RIG1), "group_id": -1}),  # alice's worker
        ("/v1/worker/update", {"worker_id": str(RIG1), "group_id": gid}),  # alice's group
        ("/v1/groups/create", {"group_name": "x", "puid": 1}),
        (f"/v1/groups/update/{gid}", {"group_name": "x"}),
        (f"/v1/groups/update/{gid}", {"group_name": "x", "puid": 1}),
        (f"/v1/groups/delete/{gid}", {}),
        (f"/v1/groups/delete/{gid}", {"puid": 1}),
    ]
    for path, params in attempts:
        answer = loaded.api("POST", path, "bob", **params)
        assert answer["err_no"] == 20001, (path, params)
    # alice's own worker into bob's group: refused too, and nothing moved
    mixed = loaded.api("POST", "/v1/worker/update", worker_id=f"{RIG2}", group_id=bob_gid)
    assert mixed["err_no"] == 20001
    assert _alice_state(loaded) == before


def test_read_only_keys_read_but_never_write(loaded: Node) -> None:
    key = loaded.service.store.create_key("alice", True, int(loaded.clock.now()))
    answer = loaded.client.get("/v1/worker/stats", params={"access_key": key}).json()
    assert answer["err_no"] == 0
    before = _alice_state(loaded)
    for path, params in [
        ("/v1/groups/create", {"group_name": "ro"}),
        ("/v1/worker/update", {"worker_id": str(RIG1), "group_id": 0}),
    ]:
        refused = loaded.client.post(path, params={"access_key": key, **params}).json()
        assert refused["err_no"] == 20001, path
    assert _alice_state(loaded) == before


def test_revoked_and_unknown_keys_get_20001(loaded: Node) -> None:
    assert loaded.service.store.revoke_key(loaded.key["alice"], int(loaded.clock.now()))
    for key in (loaded.key["alice"], "", "x" * 5000, "' OR 1=1 --"):
        body = loaded.client.get("/v1/worker", params={"access_key": key}).json()
        assert body["err_no"] == 20001 and body["data"] is None, key
    assert loaded.client.get("/v1/worker").json()["err_no"] == 20001


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/worker", {"order_by": "worker_name; DROP TABLE workers"}, "order_by"),
        ("/v1/worker", {"order_by": "(SELECT 1)"}, "order_by"),
        ("/v1/worker", {"asc": "2"}, "asc"),
        ("/v1/worker", {"page": "0"}, "page"),
        ("/v1/worker", {"page": "9" * 40}, "page"),
        ("/v1/worker", {"page_size": "1001"}, "page_size"),
        ("/v1/worker", {"page_size": "ten"}, "page_size"),
        ("/v1/worker", {"status": "ACTIVE'--"}, "status"),
        ("/v1/worker", {"group": "abc"}, "group"),
        ("/v1/worker", {"filter": "x" * 129}, "filter"),
        ("/v1/worker", {"puid": "1 OR 1=1"}, "puid"),
        ("/v1/worker/share-history", {"dimension": "1w", "start_ts": 0, "count": 1}, "dimension"),
        ("/v1/worker/share-history", {"dimension": "1h", "count": 1}, "start_ts"),
        ("/v1/worker/share-history", {"dimension": "1h", "start_ts": 0, "count": 0}, "count"),
        ("/v1/worker/share-history", {"dimension": "1h", "start_ts": "9" * 30, "count": 1},
         "start_ts"),
        ("/v1/worker/groups", {"page_size": "-1"}, "page_size"),
        ("/v1/worker/abc", {}, "worker_id"),
        (f"/v1/worker/{'9' * 30}", {}, "worker_id"),
        ("/v1/account/earn-history", {"page": "x"}, "page"),
        ("/v1/worker", {"page_size": "1e3"}, "page_size"),
        ("/v1/worker", {"page": "1.0"}, "page"),
        ("/v1/worker", {"group": "null"}, "group"),
        ("/v1/worker", {"asc": "true"}, "asc"),
        ("/v1/worker", {"puid": "\uff11"}, "puid"),  # a full-width 1
        ("/v1/worker", {"puid": " 1 "}, "puid"),
        ("/v1/worker", {"puid": "0_1"}, "puid"),
        ("/v1/worker/share-history", {"dimension": "1h", "start_ts": -(2**40), "count": 1},
         "start_ts"),
        (f"/v1/worker/{RIG1}/share-history", {"dimension": "1h", "start_ts": 0,
                                              "count": "1.0"}, "count"),
    ],
)  # fmt: skip
def test_malformed_parameters_are_err_no_1_naming_the_field(
    loaded: Node, path: str, params: dict[str, Any], field: str
) -> None:
    body = loaded.api("GET", path, **params)
    assert body["err_no"] == 1, body
    assert body["err_msg"].startswith(f"{field}:"), body
    assert body["data"] is None


def test_filter_wildcards_and_quotes_match_literally(loaded: Node) -> None:
    for text in ("%", "_", "\\", "'", '"', "rig1' OR '1'='1", "%rig%"):
        data = loaded.data("/v1/worker", filter=text)
        assert data["total_count"] == 0, text
    assert loaded.service.store.workers(1)  # and the table is still there


def test_json_flags_are_not_numbers_and_get_bodies_count_too(loaded: Node) -> None:
    key = loaded.key["alice"]
    gid = _gid(loaded)
    before = _alice_state(loaded)
    as_true = loaded.client.post(
        "/v1/worker/update", json={"access_key": key, "worker_id": str(RIG1), "group_id": True}
    ).json()
    assert as_true["err_no"] == 1 and as_true["err_msg"].startswith("group_id")
    assert _alice_state(loaded) == before
    moved = loaded.client.post(
        "/v1/worker/update", json={"access_key": key, "worker_id": str(RIG1), "group_id": gid}
    ).json()
    assert moved["err_no"] == 0
    body_key = loaded.client.request("GET", "/v1/worker/stats", data={"access_key": key})
    assert body_key.json()["err_no"] == 0


def test_a_deleted_worker_is_not_the_callers_to_move_until_it_mines_again(loaded: Node) -> None:
    assert loaded.api("POST", "/v1/worker/update", worker_id=str(RIG1), group_id=0)["err_no"] == 0
    again = loaded.api("POST", "/v1/worker/update", worker_id=str(RIG1), group_id=-1)
    assert again["err_no"] == 20001
    assert loaded.api("GET", f"/v1/worker/{RIG1}")["err_no"] == 20001


def test_no_group_may_take_the_default_groups_name(loaded: Node) -> None:
    for name in ("DEFAULT", "default"):
        answer = loaded.api("POST", "/v1/groups/create", group_name=name)
        assert answer["err_no"] == 1 and answer["err_msg"].startswith("group_name"), name


def test_bad_update_lists_change_nothing(loaded: Node) -> None:
    before = _alice_state(loaded)
    for worker_ids in ("", "1,,2", "abc", f"{RIG1},{'9' * 30}", ",".join(["1"] * 1001)):
        body = loaded.api("POST", "/v1/worker/update", worker_id=worker_ids, group_id=-1)
        assert body["err_no"] == 1 and body["err_msg"].startswith("worker_id"), worker_ids
    assert loaded.api("POST", "/v1/worker/update", worker_id=str(RIG1))["err_no"] == 1
    assert _alice_state(loaded) == before


def test_oversized_and_malformed_bodies_are_err_no_1(loaded: Node) -> None:
    key = loaded.key["alice"]
    huge = loaded.client.post(
        "/v1/groups/create",
        content=b"group_name=" + b"x" * (70 * 1024) + f"&access_key={key}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    assert huge["err_no"] == 1 and huge["err_msg"].startswith("body")
    for content, ctype in [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"group_name": {"a": 1}}', "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"<xml/>", "application/xml"),
    ]:
        body = loaded.client.post(
            f"/v1/groups/create?access_key={key}", content=content, headers={"Content-Type": ctype}
        ).json()
        assert body["err_no"] == 1, (content, body)


def test_get_on_a_write_endpoint_is_a_method_error_not_a_worker_or_group_id(
    loaded: Node,
) -> None:
    for path in ("/v1/worker/update", "/v1/groups/create/", "/v1/groups/delete/1"):
        response = loaded.client.get(path, params={"access_key": loaded.key["alice"]})
        assert response.status_code == 405, path
        body = response.json()
        assert body["data"] is None and "POST" in body["err_msg"], path


def test_unknown_paths_get_an_envelope(loaded: Node) -> None:
    for method, path in [("GET", "/v1/nothing"), ("GET", "/public/v1/x"), ("DELETE", "/v1/worker")]:
        response = loaded.client.request(method, path)
        body = response.json()
        assert set(body) == {"err_no", "err_msg", "data"}, path
        assert body["err_no"] != 0 and path in body["err_msg"]


def test_a_revoked_key_stops_working_once_the_key_cache_time_has_passed(loaded: Node) -> None:
    ttl = loaded.service.settings.key_cache_s
    assert ttl > 0
    assert loaded.api("GET", "/v1/worker/stats")["err_no"] == 0  # the grant is remembered
    assert loaded.service.store.revoke_key(loaded.key["alice"], int(loaded.clock.now()))
    loaded.clock.advance(ttl / 2)
    assert loaded.api("GET", "/v1/worker/stats")["err_no"] == 0  # documented: up to ttl late
    loaded.clock.advance(ttl / 2)
    assert loaded.api("GET", "/v1/worker/stats")["err_no"] == 20001


def test_a_new_sub_account_is_opened_by_the_accounts_key_once_the_cache_time_passed(
    loaded: Node,
) -> None:
    assert loaded.api("GET", "/v1/worker/stats")["err_no"] == 0
    puid = loaded.service.store.create_subaccount("alice", "alice2", int(loaded.clock.now()))
    loaded.clock.advance(loaded.service.settings.key_cache_s)
    assert loaded.api("GET", "/v1/account/info", puid=puid)["data"]["user_name"] == "alice2"


def test_every_endpoint_answers_with_and_without_its_trailing_slash(loaded: Node) -> None:
    gid = _gid(loaded)
    ids = {"{worker_id}": str(RIG2), "{gid}": str(gid)}
    history = {"dimension": "1h", "start_ts": -7200, "count": 2}
    for method, template in ENDPOINTS:
        if method != "get" or template == "/public/worker/share/":
            continue  # writes change state: their slash forms are tested where they are used
        path = template
        for name, value in ids.items():
            path = path.replace(name, value)
        params = {**history, "access_key": loaded.key["alice"]}
        bare, slashed = path.rstrip("/"), path.rstrip("/") + "/"
        answers = [loaded.client.get(p, params=params).json() for p in (bare, slashed)]
        assert answers[0]["err_no"] == 0, (bare, answers[0])
        assert answers[0] == answers[1], path


def test_a_watcher_token_is_no_access_key_and_no_key_is_a_watcher_token(loaded: Node) -> None:
    made = loaded.api("POST", "/v1/account/watcher/create", note="shared")
    token = made["data"]["watcher_key"]
    as_key = loaded.client.get("/v1/worker/stats", params={"access_key": token}).json()
    assert as_key["err_no"] == 20001
    key = loaded.key["alice"]
    as_token = loaded.client.get("/v1/worker/stats", params={"watcher_token": key}).json()
    assert as_token["err_no"] == 20001


def test_watcher_tokens_never_reach_the_logs(
    loaded: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    made = loaded.api("POST", "/v1/account/watcher/create", note="shared")
    token = made["data"]["watcher_key"]
    calls = [
        ("GET", "/v1/worker", {}),
        ("GET", "/v1/worker", {"puid": 2}),  # 20002
        ("POST", "/v1/groups/create", {"group_name": "g"}),  # 20002
        ("GET", "/v1/account/watcher/others-list", {}),
    ]
    for method, path, params in calls:
        loaded.client.request(method, path, params={"watcher_token": token, **params})
    loaded.client.get("/v1/worker", params={"watcher_token": token + "x"})  # unknown
    loaded.api("POST", "/v1/account/watcher/delete", watcher_id=made["data"]["id"])
    loaded.client.get("/v1/worker", params={"watcher_token": token})  # deleted
    # the server's records: httpx's are the test client's own lines about its requests
    server = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert any("watcher link" in line for line in server), server  # it did log, of them
    assert not [line for line in server if token in line or token[2:] in line]
