"""BTC.COM worker groups: golden list, create/rename/delete and their refusals."""

from __future__ import annotations

import pytest

from tests.api.conftest import T0, Node
from tests.api.golden import RIG1, RIG2, load


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def _create(node: Node, name: str, user: str = "alice") -> int:
    """Create a group and find its gid where BTC.COM's clients find it: ``create`` answers
    ``{"status": true}`` alone, as the document shows."""
    created = node.api("POST", "/v1/groups/create", user, group_name=name)
    assert created["data"] == {"status": True}
    return next(g["gid"] for g in node.data("/v1/groups/simple", user) if g["name"] == name)


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
    "shares_1h": "0",
    "shares_unit": "H",
    "shares_1d": "0",
    "shares_1d_unit": "H",
    "shares_1m_pure": "0",
    "shares_5m_pure": "0",
    "shares_15m_pure": "0",
    "shares_1h_pure": 0,
    "shares_1d_pure": 0,
}


def test_groups_golden_default_first_with_its_workers_figures(loaded: Node) -> None:
    gid = _create(loaded, "hall-A")
    loaded.api("POST", "/v1/worker/update", worker_id=str(RIG2), group_id=gid)
    # DEFAULT keeps rig1 (ACTIVE) and rig3 (DEAD): rig1's figures, 1d 3.127 T; in whole H/s
    # 1m 60 * 2^20 * 2^32 / 60 = 2^52, 5m 2^52 / 5, 15m 2^52 / 15, 1h 2^52 / 60 =
    # 75059993789508.27 (0.07506 P), 1d 2^52 / 1440 = 3127499741229.51.
    # hall-A has rig2 (INACTIVE): no 1m/5m/15m hashrate; 1h 30 * 2^52 / 3600 =
    # 37529996894754.13 (37.53 T, the unit of the four), 1d 30 * 2^52 / 86400 =
    # 1563749870614.76 (1.564 T).
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
                    "shares_1h": "0.07506",
                    "shares_unit": "P",
                    "shares_1d": "3.127",
                    "shares_1d_unit": "T",
                    "shares_1m_pure": "4503599627370496",
                    "shares_5m_pure": "900719925474099",
                    "shares_15m_pure": "300239975158033",
                    "shares_1h_pure": 75059993789508,
                    "shares_1d_pure": 3127499741230,
                },
            )
            | {"sort_id": "-1"},
            _group(
                gid,
                "hall-A",
                (0, 1, 0),
                ZERO
                | {
                    "shares_1h": "37.53",
                    "shares_unit": "T",
                    "shares_1d": "1.564",
                    "shares_1d_unit": "T",
                    "shares_1h_pure": 37529996894754,
                    "shares_1d_pure": 1563749870615,
                },
            ),
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
    gid = _create(loaded, "old")
    loaded.api("POST", "/v1/worker/update", worker_id=f"{RIG1},{RIG2}", group_id=gid)
    renamed = loaded.api("POST", f"/v1/groups/update/{gid}", name="new")  # the document's
    assert renamed == {"err_no": 0, "err_msg": None, "data": {"status": True}}
    assert loaded.data(f"/v1/groups/{gid}")["name"] == "new"
    assert loaded.api("POST", f"/v1/groups/update/{gid}", group_name="newer")["err_no"] == 0
    assert loaded.data(f"/v1/groups/{gid}")["name"] == "newer"  # create's name, taken too
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
    assert form == {"err_no": 0, "err_msg": None, "data": {"status": True}}
    as_json = loaded.client.post(
        "/v1/groups/create", json={"access_key": loaded.key["alice"], "group_name": "j"}
    ).json()
    assert as_json == {"err_no": 0, "err_msg": None, "data": {"status": True}}
    names = [g["name"] for g in loaded.data("/v1/worker/groups")["list"]]
    assert names == ["DEFAULT", "f", "j"]


def test_groups_simple_lists_gid_and_name_default_first_as_documented(loaded: Node) -> None:
    # BTC.COM's document: [{"gid": "-1", "name": "DEFAULT"}, {"gid": 4, "name": "404"}]:
    # DEFAULT's gid a string, the others numbers
    first = _create(loaded, "404")
    second = _create(loaded, "hall-B")
    _create(loaded, "bobs", user="bob")
    assert loaded.api("GET", "/v1/groups/simple") == {
        "err_no": 0,
        "err_msg": None,
        "data": [
            {"gid": "-1", "name": "DEFAULT"},
            {"gid": first, "name": "404"},
            {"gid": second, "name": "hall-B"},
        ],
    }
    assert isinstance(first, int) and second > first
    assert loaded.data("/v1/groups/simple/", user="bob")[1:] == [
        {"gid": second + 1, "name": "bobs"}
    ]
    loaded.api("POST", f"/v1/groups/delete/{first}")
    assert [g["name"] for g in loaded.data("/v1/groups/simple")] == ["DEFAULT", "hall-B"]


def test_group_detail_has_the_documents_fields(loaded: Node) -> None:
    gid = _create(loaded, "hall-C")
    documented = {
        "workers_active", "workers_inactive", "workers_dead", "shares_1m", "shares_5m",
        "shares_15m", "workers_total", "shares_unit", "gid", "sort_id", "name", "created_at",
        "updated_at",
    }  # fmt: skip
    group = loaded.data(f"/v1/groups/{gid}")
    assert documented <= set(group)
    assert (group["gid"], group["sort_id"], group["name"]) == (gid, str(gid), "hall-C")


def test_rename_errors_name_the_field_it_came_in(loaded: Node) -> None:
    gid = _create(loaded, "r")
    _create(loaded, "taken")
    missing = loaded.api("POST", f"/v1/groups/update/{gid}")
    assert missing["err_no"] == 1 and missing["err_msg"].startswith("name:")
    for field in ("name", "group_name"):
        for bad in ("", " pad", "DEFAULT", "taken", "x" * 21):
            answer = loaded.api("POST", f"/v1/groups/update/{gid}", **{field: bad})
            assert answer["err_no"] == 1, (field, bad)
            assert answer["err_msg"].startswith(f"{field}:"), (field, bad, answer)
    assert loaded.data(f"/v1/groups/{gid}")["name"] == "r"


def test_group_0_is_all_groups_together_as_the_documents_example(loaded: Node) -> None:
    """BTC.COM's example of ``GET groups/{group_id}`` is ``"gid": 0, "sort_id": "-1",
    "name": "ALL"``. With rig2 moved to a group of its own, ALL still holds rig1, rig2 and
    rig3: 1m/5m/15m rig1's (2^52, 2^52 / 5, 2^52 / 15 H/s); 1h rig1 and rig2's
    90 * 2^20 * 2^32 / 3600 = 2^52 / 40 = 112589990684262.4 (0.1126 P); 1d 2^52 / 960 =
    4691249611844.27 (4.691 T)."""
    gid = _create(loaded, "hall-A")
    loaded.api("POST", "/v1/worker/update", worker_id=str(RIG2), group_id=gid)
    assert loaded.data("/v1/groups/0") == _group(
        0,
        "ALL",
        (1, 1, 1),
        {
            "shares_1m": "4.504",
            "shares_5m": "0.9007",
            "shares_15m": "0.3002",
            "shares_1h": "0.1126",
            "shares_unit": "P",
            "shares_1d": "4.691",
            "shares_1d_unit": "T",
            "shares_1m_pure": "4503599627370496",
            "shares_5m_pure": "900719925474099",
            "shares_15m_pure": "300239975158033",
            "shares_1h_pure": 112589990684262,
            "shares_1d_pure": 4691249611844,
        },
    ) | {"sort_id": "-1"}
    assert loaded.data("/v1/groups/0", user="bob")["workers_total"] == 1  # bobrig alone
