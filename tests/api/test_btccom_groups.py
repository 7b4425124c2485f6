"""BTC.COM worker groups: golden list, create/rename/delete and their refusals."""

from __future__ import annotations

import pytest

from tests.api.conftest import T0, Node
from tests.api.golden import RIG1, RIG2, load


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def _group(gid: int, name: str, counts: tuple[int, int, int], figures: dict[str, str]) -> dict:
    active, inactive, dead = counts
    return {
        "gid": gid,
        "sort_id": str(gid),
        "name": name,
        "created_at": int(T0),
        "updated_at": int(T0),
        "workers_active": active,
        "workers_inactive": inactive,
        "workers_dead": dead,
        "workers_total": active + inactive + dead,
        **figures,
    }


ZERO = {
    "shares_1m": "0",
    "shares_5m": "0",
    "shares_15m": "0",
    "shares_unit": "H",
    "shares_1d": "0",
    "shares_1d_unit": "H",
}


def test_groups_golden_default_first_with_its_workers_figures(loaded: Node) -> None:
    gid = loaded.api("POST", "/v1/groups/create", group_name="hall-A")["data"]["gid"]
    loaded.api("POST", "/v1/worker/update", worker_id=str(RIG2), group_id=gid)
    # DEFAULT keeps rig1 (ACTIVE) and rig3 (DEAD): rig1's figures, 1d 3.127 T;
    # hall-A has rig2 (INACTIVE): no recent hashrate, 1d 30 * 2^52 / 86400 = 1.564 T.
    assert loaded.data("/v1/worker/groups") == {
        "page": 1,
        "page_size": 10,
        "page_count": 1,
        "total_count": 2,
        "list": [
            _group(
                -1,
                "DEFAULT",
                (1, 0, 1),
                {
                    "shares_1m": "4.504",
                    "shares_5m": "0.9007",
                    "shares_15m": "0.3002",
                    "shares_unit": "P",
                    "shares_1d": "3.127",
                    "shares_1d_unit": "T",
                },
            )
            | {"sort_id": "-1"},
            _group(gid, "hall-A", (0, 1, 0), ZERO | {"shares_1d": "1.564", "shares_1d_unit": "T"}),
        ],
    }
    assert loaded.data(f"/v1/groups/{gid}")["workers_inactive"] == 1
    assert loaded.data("/v1/groups/-1")["name"] == "DEFAULT"


def test_group_names_are_unique_per_sub_account_and_1_to_20_characters(loaded: Node) -> None:
    assert loaded.api("POST", "/v1/groups/create", group_name="a")["err_no"] == 0
    again = loaded.api("POST", "/v1/groups/create", group_name="a")
    assert again["err_no"] == 1 and again["err_msg"].startswith("group_name")
    assert loaded.api("POST", "/v1/groups/create", "bob", group_name="a")["err_no"] == 0
    for bad in ("", "x" * 21, " pad", "tab\there"):
        answer = loaded.api("POST", "/v1/groups/create", group_name=bad)
        assert answer["err_no"] == 1 and answer["err_msg"].startswith("group_name"), bad
    assert loaded.api("POST", "/v1/groups/create", group_name="x" * 20)["err_no"] == 0


def test_rename_and_delete_send_the_workers_back_to_default(loaded: Node) -> None:
    gid = loaded.api("POST", "/v1/groups/create", group_name="old")["data"]["gid"]
    loaded.api("POST", "/v1/worker/update", worker_id=f"{RIG1},{RIG2}", group_id=gid)
    renamed = loaded.api("POST", f"/v1/groups/update/{gid}", group_name="new")
    assert renamed == {"err_no": 0, "err_msg": None, "data": {"status": True}}
    assert loaded.data(f"/v1/groups/{gid}")["name"] == "new"
    deleted = loaded.api("POST", f"/v1/groups/delete/{gid}/")
    assert deleted["data"] == {"status": True}
    assert loaded.api("GET", f"/v1/groups/{gid}")["err_no"] == 20001
    workers = loaded.data("/v1/worker")["data"]
    assert {w["gid"] for w in workers} == {"-1"} and len(workers) == 3


def test_default_and_deleted_are_not_groups_to_change(loaded: Node) -> None:
    for path in ("/v1/groups/update/-1", "/v1/groups/delete/0", "/v1/groups/delete/x"):
        answer = loaded.api("POST", path, group_name="z")
        assert answer["err_no"] == 1 and answer["err_msg"].startswith("gid"), path


def test_group_writes_accept_form_and_json_bodies(loaded: Node) -> None:
    form = loaded.client.post(
        "/v1/groups/create", data={"access_key": loaded.key["alice"], "group_name": "f"}
    ).json()
    assert form["err_no"] == 0 and form["data"]["name"] == "f"
    as_json = loaded.client.post(
        "/v1/groups/create", json={"access_key": loaded.key["alice"], "group_name": "j"}
    ).json()
    assert as_json["err_no"] == 0 and as_json["data"]["name"] == "j"
    names = [g["name"] for g in loaded.data("/v1/worker/groups")["list"]]
    assert names == ["DEFAULT", "f", "j"]
