"""What the live BTC.COM API answered beyond the spec's snapshot, which scripts written
against it read: ``group=0`` for every group, the raw ``_pure`` hashrates and ``shares_1h``,
``/v1/worker/full-stats`` and ``lang``. Expected shapes are the published documents'
examples; expected figures are worked out by hand from the shares each test sends."""

from __future__ import annotations

from typing import Any

import pytest

from poolstats.api.geoip import ZH_CN_NAMES, country
from tests.api.conftest import Node
from tests.api.golden import NOW, RIG1, RIG2, RIG3, load

UNITS = "HKMGTPEZ"
WINDOWS = ("1m", "5m", "15m", "1h", "1d")


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def _names(answer: dict[str, Any]) -> list[str]:
    return sorted(w["worker_name"] for w in answer["data"])


# --- group=0 --------------------------------------------------------------------------------


def test_worker_list_group_0_or_empty_lists_every_group(loaded: Node) -> None:
    """A farm monitor asks ``/v1/worker?group=0`` for all workers: 0 is "delete" only as
    ``/v1/worker/update``'s ``group_id``; as a filter it is "every group", like no group."""
    assert loaded.api("POST", "/v1/groups/create", group_name="hall-A")["err_no"] == 0
    gid = loaded.data("/v1/groups/simple")[1]["gid"]
    loaded.api("POST", "/v1/worker/update", worker_id=str(RIG2), group_id=gid)
    everyone = loaded.data("/v1/worker")
    assert _names(everyone) == ["rig1", "rig2", "rig3"]
    for group in ("0", ""):
        answer = loaded.api("GET", "/v1/worker", group=group)
        assert answer["err_no"] == 0 and answer["data"] == everyone, group
    assert _names(loaded.data("/v1/worker", group=gid)) == ["rig2"]
    assert _names(loaded.data("/v1/worker", group=-1)) == ["rig1", "rig3"]
    # a deleted worker (moved to 0) is still not listed, by group=0 either
    loaded.api("POST", "/v1/worker/update", worker_id=str(RIG3), group_id=0)
    assert _names(loaded.data("/v1/worker", group=0)) == ["rig1", "rig2"]
    assert loaded.data("/v1/worker", group=0, status="dead")["total_count"] == 0
    # still refused: another sub-account's group, and what is not a number
    assert loaded.api("GET", "/v1/worker", "bob", group=gid)["err_no"] == 20001
    bad = loaded.api("GET", "/v1/worker", group="all")
    assert bad["err_no"] == 1 and bad["err_msg"].startswith("group")


# --- _pure and shares_1h --------------------------------------------------------------------


def _farm(node: Node) -> None:
    """One worker, four shares of difficulty 15 at NOW - 40 ... NOW - 10: 60 in all, well
    inside every window and constant, so every way of cutting windows counts them whole."""
    node.ingest(
        *[
            {"ts": NOW - age, "puid": 1, "worker": "farm", "diff": 15, "accepted": True}
            for age in (40, 30, 20, 10)
        ]
    )
    node.service.flush()


# 60 * 2^32 H over each window: 1m 2^32; 5m 858993459.2; 15m 286331153.07; 1h 71582788.27;
# 1d 2982616.18 -> whole H/s, and the 1m/5m/15m/1h figures in G (the unit of the largest).
FARM_PURE = {
    "shares_1m_pure": "4294967296",
    "shares_5m_pure": "858993459",
    "shares_15m_pure": "286331153",
    "shares_1h_pure": 71582788,
    "shares_1d_pure": 2982616,
}
FARM_FIGURES = {
    "shares_1m": "4.295",
    "shares_5m": "0.8590",
    "shares_15m": "0.2863",
    "shares_1h": "0.07158",
    "shares_unit": "G",
    "shares_1d": "2.983",
    "shares_1d_unit": "M",
}


def test_pure_hashrates_and_shares_1h_everywhere_by_hand(node: Node) -> None:
    _farm(node)
    farm_id = node.data("/v1/worker")["data"][0]["worker_id"]
    answers = {
        "stats": node.data("/v1/worker/stats"),
        "item": node.data("/v1/worker")["data"][0],
        "detail": node.data(f"/v1/worker/{farm_id}"),
        "group": node.data("/v1/groups/-1"),
        "groups": node.data("/v1/worker/groups")["list"][0],
    }
    for where, answer in answers.items():
        assert {k: answer[k] for k in FARM_PURE} == FARM_PURE, where
        shown = {k: answer[k] for k in FARM_FIGURES if k in answer}
        wanted = {k: v for k, v in FARM_FIGURES.items() if k in shown}
        assert shown == wanted, where
        assert "shares_1h" in shown and "shares_unit" in shown, where
    assert answers["item"]["reject_percent_1d"] == "0.00"
    # /v1/realtime/hashrate: a script reads int(data["shares_15m_pure"]); 15m 286.3 M
    assert node.data("/v1/realtime/hashrate") == {
        "shares_15m": "286.3",
        "shares_15m_unit": "M",
        "shares_1d": "2.983",
        "shares_1d_unit": "M",
        **FARM_PURE,
    }


def _close(figure: str, unit: str, pure: int) -> bool:
    """A four-significant-digit figure in ``unit`` and a whole-H/s one agree."""
    value = float(figure) * 1000.0 ** UNITS.index(unit)
    return abs(value - pure) <= max(5e-4 * pure, 0.5)


def test_pure_and_formatted_figures_agree_in_every_answer(loaded: Node) -> None:
    """The same sums make both: each ``_pure`` is its formatted figure, unrounded."""
    rows = [
        loaded.data("/v1/worker/stats"),
        *loaded.data("/v1/worker", page_size=100)["data"],
        *(loaded.data(f"/v1/worker/{w}") for w in (RIG1, RIG2, RIG3)),
        *loaded.data("/v1/worker/groups")["list"],
    ]
    for row in rows:
        for w in WINDOWS:
            if f"shares_{w}" not in row:  # /v1/worker/stats has no formatted 1d figure
                continue
            unit = row["shares_1d_unit"] if w == "1d" else row["shares_unit"]
            assert _close(row[f"shares_{w}"], unit, int(row[f"shares_{w}_pure"])), (row, w)
        assert isinstance(row["shares_1h_pure"], int) and isinstance(row["shares_1d_pure"], int)
        assert all(row[f"shares_{w}_pure"].isdigit() for w in ("1m", "5m", "15m"))
    realtime = loaded.data("/v1/realtime/hashrate")
    for w in ("15m", "1d"):
        pure = int(realtime[f"shares_{w}_pure"])
        assert _close(realtime[f"shares_{w}"], realtime[f"shares_{w}_unit"], pure)


def test_reject_percent_1d_is_todays_rejected_work(node: Node) -> None:
    """Today (UTC, from NOW - 80000): 3 accepted, 1 rejected and 1 stale share of equal
    difficulty = 2 of 5 = 40.00 %; yesterday's rejects do not count. The 15-minute
    ``reject_percent`` sees only the newest two (1 accepted, 1 stale: 50.00 %)."""
    rig = {"puid": 1, "worker": "r", "diff": 8}
    node.ingest(
        {**rig, "ts": NOW - 80500, "status": "reject"},  # yesterday
        *[{**rig, "ts": NOW - 5000, "accepted": True}] * 2,
        {**rig, "ts": NOW - 4000, "status": "reject"},
        {**rig, "ts": NOW - 30, "accepted": True},
        {**rig, "ts": NOW - 20, "status": "stale"},
    )
    node.service.flush()
    (item,) = node.data("/v1/worker")["data"]
    assert (item["reject_percent_1d"], item["reject_percent"]) == ("40.00", "50.00")


# --- /v1/worker/full-stats ------------------------------------------------------------------


def test_full_stats_golden_as_documented(loaded: Node) -> None:
    """BTC.COM's worker document: ``/v1/worker/stats`` with ``shares_1d`` and ``shares_1h``
    as ``{"size", "unit"}``, ``size`` a number for 1d and a string for 1h. alice: 1m/5m/15m
    rig1's (as ``/v1/worker/stats``); 1h rig1 and rig2's 90 * 2^20 * 2^32 / 3600 = 112.6 T;
    1d 90 * 2^52 / 86400 = 4.691 T."""
    assert loaded.api("GET", "/v1/worker/full-stats") == {
        "err_no": 0,
        "err_msg": None,
        "data": {
            "workers_active": 1,
            "workers_inactive": 1,
            "workers_dead": 1,
            "shares_1m": "4.504",
            "shares_5m": "0.9007",
            "shares_15m": "0.3002",
            "workers_total": 3,
            "shares_unit": "P",
            "shares_1d": {"size": 4.691, "unit": "T"},
            "shares_1h": {"size": "112.6", "unit": "T"},
        },
    }
    assert loaded.data("/v1/worker/full-stats/") == loaded.data("/v1/worker/full-stats")


def test_full_stats_of_a_sub_account_without_shares(node: Node) -> None:
    assert node.data("/v1/worker/full-stats", user="bob") == {
        "workers_active": 0,
        "workers_inactive": 0,
        "workers_dead": 0,
        "shares_1m": "0",
        "shares_5m": "0",
        "shares_15m": "0",
        "workers_total": 0,
        "shares_unit": "H",
        "shares_1d": {"size": 0, "unit": "H"},
        "shares_1h": {"size": "0", "unit": "H"},
    }
    assert node.api("GET", "/v1/worker/full-stats", user="")["err_no"] == 20001


# --- lang -----------------------------------------------------------------------------------


def _btccom_paths(node: Node) -> list[tuple[str, str]]:
    """Every BTC.COM-dialect operation the OpenAPI document lists (Tangpool's has its own
    parameters and errors)."""
    document = node.client.get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if path.startswith(("/v1/", "/public/v1/"))
        for method in operations
    ]


def _filled(path: str, gid: int) -> str:
    return path.replace("{worker_id}", str(RIG1)).replace("{gid}", str(gid))


def test_every_endpoint_accepts_lang_and_answers_the_same(loaded: Node) -> None:
    """``lang`` is never refused as unknown: with either language every read answers as it
    does without (rig1's address has no country, so no text differs here)."""
    assert loaded.api("POST", "/v1/groups/create", group_name="g", lang="en")["err_no"] == 0
    gid = loaded.data("/v1/groups/simple", lang="zh-cn")[1]["gid"]
    history = {"dimension": "1h", "start_ts": -7200, "count": 2}
    reads = [_filled(p, gid) for m, p in _btccom_paths(loaded) if m == "GET"]
    assert len(reads) >= 15
    for path in reads:
        plain = loaded.api("GET", path, **history)
        for lang in ("zh-cn", "en", "zh-CN", "EN"):
            assert loaded.api("GET", path, lang=lang, **history) == plain, (path, lang)


def test_a_wrong_lang_is_refused_naming_it_everywhere_and_changes_nothing(
    loaded: Node,
) -> None:
    state = (loaded.service.store.workers(1), loaded.service.store.groups(1))
    for method, path in _btccom_paths(loaded):
        for lang in ("fr", "zh", "english", " "):
            answer = loaded.api(method, _filled(path, 1), lang=lang, group_name="x", name="y")
            assert answer["err_no"] == 1, (method, path, lang, answer)
            assert answer["err_msg"].startswith("lang:"), (method, path, answer)
            assert answer["data"] is None
    assert (loaded.service.store.workers(1), loaded.service.store.groups(1)) == state


def test_ip2location_follows_lang_with_chinese_by_default(loaded: Node) -> None:
    """The spec's example ("中国 河南 ...", no ``lang`` sent) is Chinese: the default. The
    bundled data names countries only, so only the country is given."""
    path = f"/v1/worker/{RIG2}"  # last share from 114.114.114.114, in China
    assert loaded.data(path)["ip2location"] == "中国"
    assert loaded.data(path, lang="zh-cn")["ip2location"] == "中国"
    assert loaded.data(path, lang="en")["ip2location"] == "China"
    assert loaded.data(path, lang="")["ip2location"] == "中国"  # empty: as if left out
    assert loaded.data(f"/v1/worker/{RIG1}", lang="en")["ip2location"] == ""  # no country


@pytest.mark.parametrize(
    ("ip", "zh", "en"),
    [
        ("114.114.114.114", "中国", "China"),
        ("8.8.8.8", "美国", "United States"),
        ("::ffff:8.8.8.8", "美国", "United States"),
        ("10.1.2.3", "", ""),
        ("not an ip", "", ""),
    ],
)
def test_country_in_both_languages(ip: str, zh: str, en: str) -> None:
    assert (country(ip, "zh-cn"), country(ip, "en"), country(ip)) == (zh, en, en)


def test_every_country_code_has_a_chinese_name() -> None:
    """ISO 3166-1 has 249 codes; the table holds them and Kosovo's XK, each a CJK name."""
    assert len(ZH_CN_NAMES) >= 249
    for code, name in ZH_CN_NAMES.items():
        assert len(code) == 2 and code.isupper() and code.isalpha(), code
        assert name and not name.isascii(), (code, name)
    assert (ZH_CN_NAMES["CN"], ZH_CN_NAMES["US"], ZH_CN_NAMES["DE"]) == ("中国", "美国", "德国")
