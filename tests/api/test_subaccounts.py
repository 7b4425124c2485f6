"""BTC.COM's sub-account endpoints: list (GET and POST), create, morelist, hashrate-miners;
shapes from its published account documents, figures worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ALICE, BOB, Node
from tests.api.golden import load

ADDRESS = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"  # a valid mainnet P2PKH address
CREATED_AT = "2023-11-14 22:13:20"  # T0 = 1_700_000_000 in UTC, worked out by hand
BASE = "http://testserver"  # the TestClient's address: the one region's URL
LIST = "/v1/account/sub-account/list"
CREATE = "/v1/account/sub-account/create"


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def create(node: Node, name: str, user: str = "alice", **params: Any) -> Any:
    return node.api("POST", CREATE, user, worker_name=name, bitcoin_address=ADDRESS, **params)


def item(puid: int, name: str, current: int, region: str = "") -> dict[str, Any]:
    return {
        "puid": puid, "region_id": 1, "region_name": region, "name": name, "default_url": BASE,
        "is_current": current, "created_at": CREATED_AT, "updated_at": CREATED_AT,
        "change_updated_at": CREATED_AT,
    }  # fmt: skip


def test_create_makes_a_sub_account_the_key_opens_at_once(node: Node) -> None:
    body = create(node, "alice-farm2", region_node="cn", coin_type="BTC")
    assert body == {
        "err_no": 0, "err_msg": None,
        "data": {"status": True, "puid": 3, "region_id": 1, "region_base_url": BASE},
    }  # fmt: skip
    # no cache time to wait: the key that made it opens it on its next call
    info = node.data("/v1/account/info", puid=3)
    assert (info["user_name"], info["address"], info["region"]) == ("alice-farm2", ADDRESS, "cn")
    assert node.service.store.puid_of("alice-farm2") == 3


def test_the_list_is_the_accounts_own_with_the_called_puid_current(node: Node) -> None:
    create(node, "alice-farm2", region_node="cn")
    create(node, "bob-farm", user="bob")
    for method in ("GET", "POST"):
        body = node.api(method, LIST)
        assert body["err_no"] == 0, body
        assert body["data"] == [item(ALICE, "alice", 1), item(3, "alice-farm2", 0, "cn")]
    chosen = node.api("POST", LIST, puid=3)["data"]
    assert [s["is_current"] for s in chosen] == [0, 1]
    only = node.api("GET", LIST, puids="3")["data"]
    assert only == [item(3, "alice-farm2", 0, "cn")]
    assert node.api("GET", LIST, puids=f"{BOB},4")["data"] == []  # not alice's: left out
    assert [s["name"] for s in node.api("GET", LIST, "bob")["data"]] == ["bob", "bob-farm"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"worker_name": "ab"}, "worker_name"),
        ({"worker_name": "x" * 21}, "worker_name"),
        ({"worker_name": "bad name"}, "worker_name"),
        ({"worker_name": "bob"}, "worker_name"),  # taken, by another account
        ({"bitcoin_address": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"}, "bitcoin_address"),
        ({"bitcoin_address": ""}, "bitcoin_address"),
        ({"coin_type": "ltc"}, "coin_type"),
    ],
)
def test_bad_create_parameters_are_err_no_1_naming_the_field(
    node: Node, params: dict[str, Any], field: str
) -> None:
    sent = {"worker_name": "farm2", "bitcoin_address": ADDRESS, **params}
    body = node.api("POST", CREATE, **sent)
    assert body["err_no"] == 1 and body["err_msg"].startswith(field), body
    assert node.service.store.subaccounts() == {"alice": 1, "bob": 2}


def test_missing_create_parameters_are_err_no_1(node: Node) -> None:
    body = node.api("POST", CREATE, worker_name="farm2")
    assert body["err_no"] == 1 and body["err_msg"].startswith("bitcoin_address"), body
    body = node.api("POST", CREATE, bitcoin_address=ADDRESS)
    assert body["err_no"] == 1 and body["err_msg"].startswith("worker_name"), body


def test_a_read_only_key_lists_but_cannot_create(node: Node) -> None:
    key = node.service.store.create_key("alice", True, 1)
    listed = node.client.get(LIST, params={"access_key": key}).json()
    assert [s["puid"] for s in listed["data"]] == [ALICE]
    params = {"access_key": key, "worker_name": "farm2", "bitcoin_address": ADDRESS}
    assert node.client.post(CREATE, params=params).json()["err_no"] == 20001
    assert node.service.store.puid_of("farm2") is None


def test_morelist_displays_every_sub_account_with_its_watcher_count(node: Node) -> None:
    create(node, "alice-farm2")
    for note in ("one", "two"):
        node.api("POST", "/v1/account/watcher/create", note=note, puid=3)
    data = node.data("/v1/account/sub-account/morelist")
    assert data["have_default"] is False and data["hidden"] == []
    assert [(s["puid"], s["name"], s["shares"], s["is_current"]) for s in data["display"]] == [
        (ALICE, "alice", 0, 1), (3, "alice-farm2", 2, 0)
    ]  # fmt: skip
    first = data["display"][0]
    wanted = {
        "current_coin_type": "btc",
        "open_coin_type": ["btc"],
        "is_hidden": 0,
        "region_id": 1,
        "created_at": CREATED_AT,
    }
    assert {k: first[k] for k in wanted} == wanted


def test_hashrate_miners_counts_workers_and_the_days_hashrate(loaded: Node) -> None:
    # alice: rig1 (60 x 2^20, ACTIVE), rig2 (30 x 2^20, INACTIVE), rig3 (DEAD, older than a
    # day): 90 * 2^20 * 2^32 / 86400 = 2^52 / 960 H/s = 4.691 T.
    data = loaded.data("/v1/account/sub-account/hashrate-miners")
    assert data == {
        "1": {"puid": "1", "workers": 3, "workers_active": 1, "shares_1d": "4.691",
              "shares_1d_unit": "T"}
    }  # fmt: skip
    puid = create(loaded, "alice-farm2")["data"]["puid"]
    both = loaded.data("/v1/account/sub-account/hashrate-miners", puids=f"{puid},1")
    assert list(both) == [str(puid), "1"]
    assert both[str(puid)] == {"puid": str(puid), "workers": 0, "workers_active": 0,
                               "shares_1d": "0", "shares_1d_unit": "H"}  # fmt: skip
    foreign = loaded.api("GET", "/v1/account/sub-account/hashrate-miners", puids=f"1,{BOB}")
    assert foreign["err_no"] == 20001 and foreign["data"] is None
    bad = loaded.api("GET", "/v1/account/sub-account/hashrate-miners", puids="1,x")
    assert bad["err_no"] == 1 and bad["err_msg"].startswith("puids")


def test_a_watcher_reads_its_own_hashrate_miners_but_no_list(loaded: Node) -> None:
    token = loaded.api("POST", "/v1/account/watcher/create", note="ab")["data"]["watcher_key"]
    own = loaded.api("GET", "/v1/account/sub-account/hashrate-miners", "", watcher_token=token)
    assert list(own["data"]) == ["1"]
    for method, path in (("GET", LIST), ("POST", LIST),
                         ("GET", "/v1/account/sub-account/morelist")):  # fmt: skip
        body = loaded.api(method, path, "", watcher_token=token)
        assert body["err_no"] == 20002, (method, path)
