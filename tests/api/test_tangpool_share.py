"""Tangpool's hashrate document (share.md) served: groups, summary, distribution, the worker
list, detail and history, in its shapes, key and error form.

The shares are few and round so that every figure is worked out by hand here (H/s = the
difficulty in the window * 2**32 / the window's seconds). At NOW = T0 (22:13:20 UTC) the
hour began at H0 = NOW - 800:

- rig1: 60 accepted at NOW - 30, 60 rejected at NOW - 20 (online);
- rig2: 70 accepted at NOW - 600 (online), and 36 accepted + 18 rejected at NOW - 2000, in
  the hour H0 - 3600 .. H0;
- rig3: 1 accepted at NOW - 90000 (offline: over a day ago);
- bob's bobrig: 54 accepted at NOW - 2500.
"""

from __future__ import annotations

from typing import Any

import pytest

from poolstats.domain.workers import worker_id
from tests.api.conftest import ALICE, BOB, T0, Node
from tests.api.test_spec_shapes import shape

NOW = int(T0)
H0 = NOW - 800
RIG1, RIG2, RIG3, BOBRIG = (worker_id(n) for n in ("rig1", "rig2", "rig3", "bobrig"))
IP = "203.0.113.7"


def share(ts: int, worker: str, diff: float, ok: bool = True, puid: int = ALICE) -> dict[str, Any]:
    status = {"accepted": True} if ok else {"status": "reject"}
    return {"ts": ts, "puid": puid, "worker": worker, "diff": diff, "ip": IP, **status}


@pytest.fixture
def mined(node: Node) -> Node:
    node.ingest(
        share(NOW - 30, "rig1", 60),
        share(NOW - 20, "rig1", 60, ok=False),
        share(NOW - 600, "rig2", 70),
        share(NOW - 2000, "rig2", 36),
        share(NOW - 2000, "rig2", 18, ok=False),
        share(NOW - 90000, "rig3", 1),
        share(NOW - 2500, "bobrig", 54, puid=BOB),
    )
    node.service.flush()
    return node


def get(node: Node, path: str, user: str | None = "alice", **params: Any) -> Any:
    """A successful GET with the user's key in ``__access_key__``; the answer's JSON."""
    if user is not None:
        params["__access_key__"] = node.key[user]
    response = node.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_summary_is_the_sub_accounts_realtime_hashrate(mined: Node) -> None:
    # 1m: rig1's 60 -> 60 * 2^32 / 60 = 4.295 G; 5m: 60 * 2^32 / 300 = 0.8590 G;
    # 15m: 130 * 2^32 / 900 = 0.6204 G, over 2 online workers = 0.310 G each
    answer = get(mined, "/public/worker/share/summary/")
    assert answer == {"unit": "G", "1m": "4.295", "5m": "0.8590", "15m": "0.6204",
                      "avg": "0.310", "count": "2"}  # fmt: skip
    example = {"unit": "G", "1m": "787.9", "5m": "157.5", "15m": "599.8", "avg": "599.800",
               "count": "1"}  # fmt: skip
    assert shape(answer) == shape(example)


def test_summary_of_a_sub_account_without_workers_is_zeros(node: Node) -> None:
    assert get(node, "/public/worker/share/summary") == {
        "unit": "H", "1m": "0.000", "5m": "0.000", "15m": "0.000", "avg": "0.000", "count": "0"
    }  # fmt: skip


def test_distribution_spreads_the_online_workers_over_54_intervals(mined: Node) -> None:
    # 15m: rig1 60 * 2^32 / 900 = 286.331153 M, rig2 70 * 2^32 / 900 = 334.052945 M; the
    # interval is 334.052945 / 50 = 6.681059 M wide: rig1 in interval 42 (42.86), rig2 in 50
    answer = get(mined, "/public/worker/share/distribution/", dimension="15m")
    counts = [0] * 54
    counts[42] = counts[50] = 1
    assert answer["shareCount"] == counts
    edges = answer.pop("shareDistribution")
    assert len(edges) == 54
    assert (edges[0], edges[1], edges[42], edges[50], edges[53]) == (
        "0.00", "6.68", "280.60", "334.05", "354.10"
    )  # fmt: skip
    assert answer == {"sharesMax": 334.053, "sharesAvg": "310.192", "sharesMin": 286.331,
                      "shareCount": counts, "sharesUnit": "M", "totalCount": 2}  # fmt: skip
    # 1m: rig1 4.295 G, rig2 nothing in the last minute: both online, at both ends
    minute = get(mined, "/public/worker/share/distribution", dimension="1m")
    assert (minute["sharesUnit"], minute["sharesMax"], minute["sharesMin"]) == ("G", 4.295, 0)
    assert (minute["shareCount"][0], minute["shareCount"][50], minute["totalCount"]) == (1, 1, 2)
    example = {"sharesMax": 599.8, "sharesAvg": "599.800", "sharesMin": 599.8,
               "shareDistribution": ["0.00", "12.00"], "shareCount": [0, 1], "sharesUnit": "G",
               "totalCount": 1}  # fmt: skip
    assert shape(minute) == shape(example)


def test_groups_list_default_as_group_0_then_the_sub_accounts_groups(mined: Node) -> None:
    store = mined.service.store
    g1 = store.create_group(ALICE, "g1", NOW)["gid"]
    assert store.move_workers(ALICE, [RIG2], g1, NOW)
    answer = get(mined, "/public/agent/0/group/")
    # DEFAULT: rig1 (online) and rig3 (offline): rig1's 4.295 G, 0.8590 G, 0.2863 G;
    # g1: rig2 (online), 334.1 M over 15 minutes only
    assert answer == [
        {"mining_group_id": "0", "user_id": str(ALICE), "agent_id": "0", "name": "DEFAULT",
         "color_warning_enabled": False, "online_count": "1", "offline_count": "1",
         "shares": {"shares_1m": "4.295", "shares_5m": "0.8590", "shares_15m": "0.2863",
                    "unit": "G"}},
        {"mining_group_id": str(g1), "user_id": str(ALICE), "agent_id": "0", "name": "g1",
         "color_warning_enabled": False, "online_count": "1", "offline_count": "0",
         "shares": {"shares_1m": "0.000", "shares_5m": "0.000", "shares_15m": "334.1",
                    "unit": "M"}},
    ]  # fmt: skip
    # the worker list's group 0 is DEFAULT, a gid is that group
    default = get(mined, "/public/worker/", group=0)["data"]
    assert [w["worker_name"] for w in default] == ["rig1", "rig3"]
    assert [w["worker_name"] for w in get(mined, "/public/worker/", group=g1)["data"]] == ["rig2"]
    assert get(mined, "/public/worker/", group=g1)["data"][0]["group_name"] == "g1"
    example = [{"mining_group_id": "0", "user_id": "18", "agent_id": "0", "name": "DEFAULT",
                "color_warning_enabled": False, "online_count": "2", "offline_count": "0",
                "shares": {"shares_1m": "1.466", "shares_5m": "2.140", "shares_15m": "2.345",
                           "unit": "T"}}]  # fmt: skip
    assert shape(answer) == shape(example)


RIG1_ITEM = {
    "mining_worker_id": str(RIG1), "user_id": str(ALICE), "agent_id": "0", "group_id": "0",
    "worker_name": "rig1", "worker_name_ip": "0", "min_diff": "0",
    "shares_1m": "4.295", "shares_5m": "0.8590", "shares_15m": "0.2863", "unit": "G",
    "total_accept": "1", "total_reject": "1",
    "last_share_time": "2023-11-14 22:13:00",  # NOW - 20: its rejected share
    "last_showup_time": "2023-11-14 22:13:20",  # NOW: the flush that first stored it
    "last_ip": IP, "is_cleaning": "0", "is_deleted": "0", "group_name": "DEFAULT",
    "reject_percent": "50.00",  # 60 of 120 in 15 minutes
}  # fmt: skip


def test_worker_list_pages_filters_and_sorts(mined: Node) -> None:
    answer = get(mined, "/public/worker/")
    # by last_share_time, newest first: rig1 (NOW - 20), rig2 (NOW - 600), rig3
    assert [w["worker_name"] for w in answer["data"]] == ["rig1", "rig2", "rig3"]
    assert answer["data"][0] == RIG1_ITEM
    page = {k: v for k, v in answer.items() if k != "data"}
    assert page == {"total": 3, "per_page": 50, "current_page": 1, "last_page": 1,
                    "from": 1, "to": 3}  # fmt: skip
    online = get(mined, "/public/worker/", status="online", order_by="worker_name", asc=1)
    assert [w["worker_name"] for w in online["data"]] == ["rig1", "rig2"]
    offline = get(mined, "/public/worker/", status="offline", agent_id=0)
    assert [w["worker_name"] for w in offline["data"]] == ["rig3"]
    # rig2: 70 in 15 m = 0.3341 G against rig1's 0.2863 G
    by_15m = get(mined, "/public/worker", order_by="shares_15m", filter="RIG")
    assert [w["worker_name"] for w in by_15m["data"]] == ["rig2", "rig1", "rig3"]
    blank = get(mined, "/public/worker/", group="", status="")  # blank: as if not given
    assert [w["worker_name"] for w in blank["data"]] == ["rig1", "rig2", "rig3"]
    empty = get(mined, "/public/worker/", page=2)
    assert (empty["data"], empty["from"], empty["to"], empty["last_page"]) == ([], None, None, 1)
    example = {"total": 2, "per_page": 50, "current_page": 1, "last_page": 1, "from": 1, "to": 2,
               "data": [{**RIG1_ITEM, "mining_worker_id": "40"}]}  # fmt: skip
    assert shape(answer) == shape(example)


def test_worker_detail_has_the_documents_fields(mined: Node) -> None:
    detail = get(mined, f"/public/worker/{RIG1}/")
    left_out = ("group_id", "is_deleted", "group_name")
    assert detail == {k: v for k, v in RIG1_ITEM.items() if k not in left_out}
    assert get(mined, f"/public/worker/{RIG1}") == detail
    example = {"reject_percent": "0.86", "last_showup_time": "2014-12-11 08:50:48",
               "agent_id": "0", "min_diff": "65536", "last_share_time": "2014-12-11 11:36:43",
               "worker_name": "s99", "last_ip": "0.0.0.0", "is_cleaning": "0",
               "total_reject": "345376", "shares_5m": "0.000", "shares_15m": "0.000",
               "user_id": "18", "total_accept": "40016368", "worker_name_ip": "0",
               "mining_worker_id": "1", "unit": "K", "shares_1m": "0.000"}  # fmt: skip
    assert shape(detail) == shape(example)


def test_worker_history_is_hourly_keyed_by_interval_end(mined: Node) -> None:
    # rig2's 36 accepted and 18 rejected at NOW - 2000 lie in the hour H0 - 3600 .. H0:
    # 36 * 2^32 / 3600 = 42.950 M and 18 * 2^32 / 3600 = 21.475 M; the current hour is open
    params = {"dimension": "1h", "start_ts": -7200, "count": 3}
    answer = get(mined, f"/public/worker/{RIG2}/share/", **params)
    assert answer == {"unit": "M", "share": {
        str(H0 - 3600): None, str(H0): {"accept": "42.950", "reject": "21.475"}}}  # fmt: skip
    refused = mined.client.get(
        f"/public/worker/{RIG2}/share",
        params={**params, "dimension": "5m", "__access_key__": mined.key["alice"]},
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "errorCode": "INVALID_ARGUMENT",
        "errorMsg": "dimension: this history is kept for 1h only",
    }


def test_sub_account_history_adds_both_workers(mined: Node) -> None:
    # the 5-minute interval H0 - 1200 .. H0 - 900 holds rig2's NOW - 2000 shares:
    # 36 * 2^32 / 300 = 515.396 M accepted, 18 * 2^32 / 300 = 257.698 M rejected
    answer = get(mined, "/public/worker/share/", dimension="5m", start_ts=NOW - 2000, count=1)
    assert answer == {"unit": "M", "share": {str(H0 - 900): {"accept": "515.396",
                                                             "reject": "257.698"}}}  # fmt: skip


def test_a_worker_of_another_sub_account_is_not_found(mined: Node) -> None:
    for path in (f"/public/worker/{BOBRIG}/", f"/public/worker/{BOBRIG}/share/"):
        response = mined.client.get(
            path,
            params={"dimension": "1h", "start_ts": -3600, "count": 1},
            headers={"X-Access-Key": mined.key["alice"]},
        )
        assert response.status_code == 404
        assert response.json() == {
            "errorCode": "NOT_FOUND",
            "errorMsg": "worker_id: not a worker of this sub-account",
        }
    assert get(mined, f"/public/worker/{BOBRIG}/", user="bob")["worker_name"] == "bobrig"


KEYED = [
    ("/public/agent/0/group/", {}),
    ("/public/worker/share/summary/", {}),
    ("/public/worker/share/distribution/", {"dimension": "15m"}),
    ("/public/worker/share/", {"dimension": "1h", "start_ts": -3600, "count": 1}),
    ("/public/worker/", {}),
    (f"/public/worker/{RIG1}/", {}),
    (f"/public/worker/{RIG1}/share/", {"dimension": "1h", "start_ts": -3600, "count": 1}),
]


@pytest.mark.parametrize(("path", "params"), KEYED)
def test_every_endpoint_wants_a_key_by_query_or_header(
    mined: Node, path: str, params: dict[str, Any]
) -> None:
    missing = mined.client.get(path, params=params)
    assert missing.status_code == 401
    assert missing.json() == {"errorCode": "UNAUTHENTICATED",
                              "errorMsg": "__access_key__: missing"}  # fmt: skip
    wrong = mined.client.get(path, params={**params, "__access_key__": "nope"})
    assert (wrong.status_code, wrong.json()["errorCode"]) == (401, "UNAUTHENTICATED")
    by_header = mined.client.get(path, params=params, headers={"X-Access-Key": mined.key["alice"]})
    assert by_header.status_code == 200
    assert by_header.json() == get(mined, path, **params)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/public/agent/1/group/", {}, "agent_id"),
        ("/public/agent/x/group/", {}, "agent_id"),
        ("/public/worker/share/distribution/", {}, "dimension"),
        ("/public/worker/share/distribution/", {"dimension": "1h"}, "dimension"),
        ("/public/worker/", {"status": "busy"}, "status"),
        ("/public/worker/", {"order_by": "hashrate"}, "order_by"),
        ("/public/worker/", {"asc": "2"}, "asc"),
        ("/public/worker/", {"page": "0"}, "page"),
        ("/public/worker/", {"group": "-1"}, "group"),
        ("/public/worker/", {"group": "99"}, "group"),
        ("/public/worker/", {"agent_id": "7"}, "agent_id"),
        ("/public/worker/x/", {}, "worker_id"),
        (f"/public/worker/{RIG1}/share/", {"dimension": "1h", "count": 1}, "start_ts"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    mined: Node, path: str, params: dict[str, Any], field: str
) -> None:
    response = mined.client.get(path, params={**params, "__access_key__": mined.key["alice"]})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errorCode"] == "INVALID_ARGUMENT"
    assert body["errorMsg"].startswith(f"{field}:"), body


def test_unknown_paths_answer_in_the_dialect_they_are_under(node: Node) -> None:
    tangpool = node.client.get("/public/worker/share/nothing/here")
    assert tangpool.status_code == 404
    assert tangpool.json() == {
        "errorCode": "NOT_FOUND",
        "errorMsg": "no such endpoint: /public/worker/share/nothing/here",
    }
    btccom = node.client.get("/public/v1/nothing")
    assert btccom.status_code == 404 and btccom.json()["err_no"] == 404
    posted = node.client.post("/public/worker/share/summary/")
    assert (posted.status_code, posted.json()["errorCode"]) == (405, "NOT_FOUND")


TANGPOOL_ENDPOINTS = {
    "/public/agent/{agent_id}/group/": set(),
    "/public/worker/share/summary/": set(),
    "/public/worker/share/distribution/": {"dimension"},
    "/public/worker/share/": {"dimension", "start_ts", "count"},
    "/public/worker/": {"status", "group", "page", "filter", "order_by", "asc", "agent_id"},
    "/public/worker/{worker_id}/": set(),
    "/public/worker/{worker_id}/share/": {"dimension", "start_ts", "count"},
    "/public/pool/block/": {"page"},
    "/public/pool/block/latest/": set(),
    "/public/pool/share/": {"dimension", "start_ts", "count"},
    "/public/pool/lucky/": {"start", "end"},
    "/public/profit/": set(),
    "/public/profit/transaction/": {"page"},
}


def test_openapi_lists_every_endpoint_of_the_three_documents(node: Node) -> None:
    paths = node.client.get("/openapi.json").json()["paths"]
    tangpool = {p for p in paths if p.startswith("/public/") and not p.startswith("/public/v1/")}
    assert tangpool == set(TANGPOOL_ENDPOINTS)
    for path, wanted in TANGPOOL_ENDPOINTS.items():
        operation = paths[path]["get"]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        public = path.startswith("/public/pool/")
        assert names == wanted | (set() if public else {"__access_key__", "puid"}), path
        assert ("401" in operation["responses"]) is not public, path
