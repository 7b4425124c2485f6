"""BTC.COM worker API, golden: the full JSON for a hand-made share set (see ``golden``)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from poolstats.domain.workers import worker_id
from poolstats.store import schema
from tests.api.conftest import Node
from tests.api.golden import (
    H0,
    IP1,
    IP2,
    MIB,
    NOW,
    RIG1,
    RIG1_ITEM,
    RIG2,
    RIG2_ITEM,
    RIG3,
    RIG3_ITEM,
    load,
)

# The live API's additions to each item, worked out by hand from golden's shares. ``_pure``
# is the window's hashrate in whole H/s (nearest): 1m/5m/15m as strings, 1h/1d as numbers.
# rig1, 60 * 2^20: 1m 2^52, 5m 2^52 / 5 = 900719925474099.2, 15m 2^52 / 15 =
# 300239975158033.07, 1h 2^52 / 60 = 75059993789508.27 (0.07506 P), 1d 2^52 / 1440 =
# 3127499741229.51; today (from NOW - 80000) 1 of 61 shares of work rejected: 1.64 %.
RIG1_LIVE = RIG1_ITEM | {
    "shares_1h": "0.07506",
    "shares_1m_pure": "4503599627370496",
    "shares_5m_pure": "900719925474099",
    "shares_15m_pure": "300239975158033",
    "shares_1h_pure": 75059993789508,
    "shares_1d_pure": 3127499741230,
    "reject_percent_1d": "1.64",
}
# rig2, 30 * 2^20 at NOW - 2000: 1h 2^52 / 120 = 37529996894754.13 = 37.53 T, which sets the
# unit of the 1m/5m/15m/1h figures; 1d 2^52 / 2880 = 1563749870614.76.
RIG2_LIVE = RIG2_ITEM | {
    "shares_unit": "T",
    "shares_1h": "37.53",
    "shares_1m_pure": "0",
    "shares_5m_pure": "0",
    "shares_15m_pure": "0",
    "shares_1h_pure": 37529996894754,
    "shares_1d_pure": 1563749870615,
    "reject_percent_1d": "0.00",
}
# rig3: its one share is from yesterday, outside every window and today
RIG3_LIVE = RIG3_ITEM | {
    "shares_1h": "0",
    "shares_1m_pure": "0",
    "shares_5m_pure": "0",
    "shares_15m_pure": "0",
    "shares_1h_pure": 0,
    "shares_1d_pure": 0,
    "reject_percent_1d": "0.00",
}


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def test_worker_stats_golden(loaded: Node) -> None:
    # alice's 1m/5m/15m are rig1's alone (see golden.RIG1_ITEM); 1h rig1 and rig2's
    # 90 * 2^20 over 3600 s = 2^52 / 40 = 112589990684262.4 H/s = 0.1126 P; 1d 2^52 / 960 =
    # 4691249611844.27 H/s
    assert loaded.api("GET", "/v1/worker/stats") == {
        "err_no": 0,
        "err_msg": None,
        "data": {
            "shares_1m": "4.504",
            "shares_5m": "0.9007",
            "shares_15m": "0.3002",
            "shares_1h": "0.1126",
            "shares_unit": "P",
            "workers_active": 1,
            "workers_inactive": 1,
            "workers_dead": 1,
            "workers_total": 3,
            "shares_1m_pure": "4503599627370496",
            "shares_5m_pure": "900719925474099",
            "shares_15m_pure": "300239975158033",
            "shares_1h_pure": 112589990684262,
            "shares_1d_pure": 4691249611844,
        },
    }


def test_worker_list_golden_default_order_is_worker_id_descending(loaded: Node) -> None:
    assert loaded.data("/v1/worker/") == {
        "page": 1,
        "page_size": 10,
        "page_count": 1,
        "total_count": 3,
        "data": [RIG2_LIVE, RIG1_LIVE, RIG3_LIVE],  # ids: rig2 > rig1 > rig3
    }


@pytest.mark.parametrize(
    ("status", "items"),
    [("active", [RIG1_LIVE]), ("inactive", [RIG2_LIVE]), ("dead", [RIG3_LIVE])],
)
def test_worker_list_filters_by_status(loaded: Node, status: str, items: list[object]) -> None:
    data = loaded.data("/v1/worker", status=status)
    assert (data["total_count"], data["data"]) == (1, items)


def test_worker_list_sorts_pages_and_filters_by_name(loaded: Node) -> None:
    page1 = loaded.data("/v1/worker", order_by="shares_1d", asc=1, page_size=2)
    assert [w["worker_name"] for w in page1["data"]] == ["rig3", "rig2"]  # 0 < 1.564 T
    assert (page1["page_count"], page1["total_count"]) == (2, 3)
    page2 = loaded.data("/v1/worker", order_by="shares_1d", asc=1, page_size=2, page=2)
    assert [w["worker_name"] for w in page2["data"]] == ["rig1"]
    by_time = loaded.data("/v1/worker", order_by="last_share_time", asc=0)
    assert [w["worker_name"] for w in by_time["data"]] == ["rig1", "rig2", "rig3"]
    named = loaded.data("/v1/worker", filter="IG2")  # case-insensitive substring
    assert named["data"] == [RIG2_LIVE]
    assert loaded.data("/v1/worker", filter="rig_")["total_count"] == 0  # _ is literal


def test_worker_list_sorts_by_the_hour(loaded: Node) -> None:
    # rig3 gets 2^30 of work 50,000 s ago: the most in the day, nothing in the hour. The hour
    # holds rig1's 60 * 2^20 and rig2's 30 * 2^20 (2,000 s ago), so by the hour: rig1, rig2,
    # rig3; by the day rig3 comes first.
    loaded.ingest(
        {"ts": NOW - 50_000, "puid": 1, "worker": "rig3", "diff": 2**30, "accepted": True}
    )
    loaded.service.flush()
    by_hour = loaded.data("/v1/worker", order_by="shares_1h", asc=0)
    assert [w["worker_name"] for w in by_hour["data"]] == ["rig1", "rig2", "rig3"]
    by_day = loaded.data("/v1/worker", order_by="shares_1d", asc=0)
    assert [w["worker_name"] for w in by_day["data"]] == ["rig3", "rig1", "rig2"]
    rising = loaded.data("/v1/worker", order_by="shares_1h", asc=1)
    assert [w["worker_name"] for w in rising["data"]] == ["rig3", "rig2", "rig1"]


def test_worker_list_sorts_by_status_group_and_ip(loaded: Node) -> None:
    def order(**params: object) -> list[str]:
        return [w["worker_name"] for w in loaded.data("/v1/worker", **params)["data"]]

    # rig1 accepted 30 s ago (ACTIVE), rig2 2,000 s ago (INACTIVE), rig3 87,000 s (DEAD)
    assert order(order_by="status", asc=0) == ["rig1", "rig2", "rig3"]
    assert order(order_by="status", asc=1) == ["rig3", "rig2", "rig1"]
    # IPs as text: rig3 sent none (""), then "114.114.114.114" (rig2), "203.0.113.7" (rig1)
    assert order(order_by="last_share_ip", asc=1) == ["rig3", "rig2", "rig1"]
    # rig2 moved to a new group (a gid above DEFAULT's -1): last by group ascending
    assert loaded.api("POST", "/v1/groups/create", group_name="hall-A")["err_no"] == 0
    gid = next(g["gid"] for g in loaded.data("/v1/groups/simple") if g["name"] == "hall-A")
    assert loaded.api("POST", "/v1/worker/update", worker_id=str(RIG2), group_id=gid)["err_no"] == 0
    by_group = order(order_by="group", asc=1)
    assert by_group[-1] == "rig2" and sorted(by_group[:2]) == ["rig1", "rig3"]


def test_worker_detail_golden(loaded: Node) -> None:
    assert loaded.data(f"/v1/worker/{RIG1}") == {
        "worker_id": RIG1,
        "worker_name": "rig1",
        "shares_1m": "4.504",
        "shares_5m": "0.9007",
        "shares_15m": "0.3002",
        "shares_1h": "0.07506",
        "shares_unit": "P",
        "shares_1d": "3.127",
        "shares_1d_unit": "T",
        "accept_count": "60",
        "accept_percent": 0.9836,  # 60 of 61 shares of work in 15 minutes
        "reject_percent": "1.64",
        "last_share_ip": IP1,
        "ip2location": "",  # 203.0.113.0/24 is a documentation range: no country
        "last_share_time": NOW - 10,
        "worker_status": "ACTIVE",
        **{k: v for k, v in RIG1_LIVE.items() if k.endswith("_pure")},
        "first_share_time": NOW - 30,  # the accepted shares; the reject came 20 s later
        "miner_agent": "",
    }
    # 114.114.114.114: in Chinese by default, as the spec's example; in English when asked
    assert IP2 == "114.114.114.114"
    assert loaded.data(f"/v1/worker/{RIG2}/")["ip2location"] == "中国"
    assert loaded.data(f"/v1/worker/{RIG2}", lang="zh-cn")["ip2location"] == "中国"
    assert loaded.data(f"/v1/worker/{RIG2}", lang="en")["ip2location"] == "China"


def test_subaccount_share_history_golden(loaded: Node) -> None:
    # 1h buckets from T0 - 7200 (in the H0 - 7200 bucket): none; rig2's 30 * 2^20 over
    # 3600 s = 2^52 / 120 = 37.53 T; the open bucket (800 s old) 60 * 2^20 over 3600 s =
    # 75.06 T with 1 of 61 shares rejected.
    assert loaded.data("/v1/worker/share-history", dimension="1h", start_ts=-7200, count=3) == {
        "shares_unit": "T",
        "tickers": [
            [str(H0 - 7200), None, None],
            [str(H0 - 3600), "37.53", "0.00"],
            [str(H0), "75.06", "1.64"],
        ],
    }
    # real_point: the open bucket over its 800 elapsed seconds, 60 * 2^52 / 800 = 337.8 T
    real = loaded.data(
        "/v1/worker/share-history", dimension="1h", start_ts=H0 - 3600, count=5, real_point=1
    )
    assert real["tickers"] == [[str(H0 - 3600), "37.53", "0.00"], [str(H0), "337.8", "1.64"]]


def test_five_minute_history_of_the_subaccount_and_the_pool_not_of_a_worker(loaded: Node) -> None:
    # NOW % 300 == 200: the open 5-minute bucket began at B0 = NOW - 200 and holds rig1's 60
    # accepted and 1 rejected 2^20; rig2's 30 * 2^20 at NOW - 2000 = B0 - 1800 open theirs.
    # Over 300 s: 30 * 2^52 / 300 = 450.4 T. The open bucket, younger than 5 minutes, shows
    # only as a real point: 60 * 2^52 / 200 s = 1.351 P (and 450.4 T = 0.4504 P), 1 of 61
    # rejected.
    b0 = NOW - 200
    path = "/v1/worker/share-history"
    closed = loaded.data(path, dimension="5m", start_ts=b0 - 1800, count=7)
    empty = [[str(b0 - 300 * k), None, None] for k in range(5, 0, -1)]
    assert closed["tickers"] == [[str(b0 - 1800), "450.4", "0.00"], *empty]
    real = loaded.data(path, dimension="5m", start_ts=b0 - 1800, count=7, real_point=1)
    assert real["shares_unit"] == "P"
    assert real["tickers"] == [
        [str(b0 - 1800), "0.4504", "0.00"],
        *empty,
        [str(b0), "1.351", "1.64"],
    ]
    # the pool's adds bob's 10 * 2^16: (60 * 2^20 + 10 * 2^16) * 2^32 / 200 = 1.365 P, and
    # 2^20 of 64,618,496 rejected: 1.62 %
    pool = loaded.data("/v1/pool/share-history", dimension="5m", start_ts=b0, count=1, real_point=1)
    assert pool["tickers"] == [[str(b0), "1.365", "1.62"]]
    refused = loaded.api("GET", f"/v1/worker/{RIG1}/share-history", dimension="5m",
                         start_ts=b0, count=1)  # fmt: skip
    assert refused["err_no"] == 1
    assert refused["err_msg"] == "dimension: this history is kept for 1h, 1d only"


def test_worker_share_history_golden(loaded: Node) -> None:
    data = loaded.data(
        f"/v1/worker/{RIG3}/share-history", dimension="1h", start_ts=H0 - 86400, count=1
    )
    # 1024 * 2^32 / 3600 = 1.222 G
    assert data == {"shares_unit": "G", "tickers": [[str(H0 - 86400), "1.222", "0.00"]]}
    daily = loaded.data(f"/v1/worker/{RIG1}/share-history", dimension="1d", start_ts=-1, count=1)
    # today's open bucket is 80000 s old: 60 * 2^20 * 2^32 / 86400 = 3.127 T
    assert daily == {"shares_unit": "T", "tickers": [[str(NOW - 80000), "3.127", "1.64"]]}


def test_worker_update_moves_deletes_and_a_deleted_worker_returns_to_default(
    loaded: Node,
) -> None:
    created = loaded.api("POST", "/v1/groups/create", group_name="hall-A")
    assert created["data"] == {"status": True}
    gid = loaded.data("/v1/groups/simple")[1]["gid"]
    moved = loaded.api("POST", "/v1/worker/update", worker_id=f"{RIG1},{RIG2}", group_id=gid)
    assert moved == {"err_no": 0, "err_msg": None, "data": {"status": True}}
    in_group = loaded.data("/v1/worker", group=gid, order_by="worker_name", asc=1)
    assert [(w["worker_name"], w["gid"], w["group_name"]) for w in in_group["data"]] == [
        ("rig1", str(gid), "hall-A"),
        ("rig2", str(gid), "hall-A"),
    ]
    loaded.api("POST", "/v1/worker/update", worker_id=str(RIG1), group_id=0)
    assert [w["worker_name"] for w in loaded.data("/v1/worker")["data"]] == ["rig2", "rig3"]
    assert loaded.api("GET", f"/v1/worker/{RIG1}")["err_no"] == 20001  # gone from view
    loaded.ingest({"ts": NOW, "puid": 1, "worker": "rig1", "diff": 1, "accepted": True})
    loaded.service.flush()
    back = loaded.data(f"/v1/worker/{RIG1}")
    assert back["worker_name"] == "rig1"
    default = loaded.data("/v1/worker", group=-1)
    assert sorted(w["worker_name"] for w in default["data"]) == ["rig1", "rig3"]


def test_worker_share_history_shows_the_open_hour_then_its_row_once_it_closes(
    node: Node,
) -> None:
    rig = {"puid": 1, "worker": "ob", "diff": MIB}
    node.ingest(
        *[{**rig, "ts": H0 + 100, "accepted": True}] * 5,
        {**rig, "ts": H0 + 200, "status": "reject"},
        {**rig, "ts": H0 + 300, "status": "stale"},
    )
    node.service.flush()
    path = f"/v1/worker/{worker_id('ob')}/share-history"
    # the open hour, from the worker row: 5 * 2^20 * 2^32 / 3600 = 6.255 T; 2 of 7 shares
    # of work rejected or stale = 28.57 %
    assert node.data(path, dimension="1h", start_ts=H0, count=1)["tickers"] == [
        [str(H0), "6.255", "28.57"]
    ]
    assert stored_rows(node, worker_id("ob")) == []  # no history row while it is open

    node.clock.set(H0 + 4400)  # the hour closes; 1 share in the next one: 1.251 T
    node.ingest({**rig, "ts": H0 + 3605, "accepted": True})
    node.service.flush()
    node.service.flush()
    assert stored_rows(node, worker_id("ob")) == [(H0, 5 * MIB, MIB, MIB)]  # once, exact
    assert node.data(path, dimension="1h", start_ts=H0, count=2)["tickers"] == [
        [str(H0), "6.255", "28.57"],
        [str(H0 + 3600), "1.251", "0.00"],
    ]


def stored_rows(node: Node, wid: int) -> list[tuple[int, float, float, float]]:
    """(start, accept, stale, reject) of the worker's hourly rows in the history table."""
    h = schema.history_worker
    with node.service.store.read() as conn:
        rows = conn.execute(
            sa.select(h.c.start, h.c.accept, h.c.stale, h.c.reject).where(
                h.c.puid == 1, h.c.worker_id == wid, h.c.period_s == 3600
            )
        ).all()
    return [tuple(r) for r in rows]
