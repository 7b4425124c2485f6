"""BTC.COM's pool endpoints (``/v1/pool/status``, ``share-history``, ``node-list``,
``url-config``) and ``/v1/coins-income`` through a real node.

The keys of each answer are written out from BTC.COM's pool document (docs/pool.md) and the
live coins-income answer its clients read; every figure is worked out here from the network
state and the shares the test records. Two checks use BTC.COM's own published figures: the
pool document's 0.00048282 BTC per TH/s a day (difficulty 520808749422, 12.5 BTC subsidy)
and the live coins-income's 1.5191098300358e-5 BTC (difficulty 16552923967337).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest

from tests.api.conftest import Node
from tests.api.golden import H0, MIB, NOW, load

DAY = 86400
TODAY = NOW - NOW % DAY
YESTERDAY = TODAY - DAY
SUBSIDY_12_5 = 1_250_000_000  # satoshis, heights 420,000 to 629,999
TH_DAY_DIFF = Fraction(86400 * 10**12, 2**32)  # the difficulty 1 TH/s does in a day

STATUS_KEYS = {  # docs/pool.md, "Get Mining Pool Status"
    "network_hashrate", "network_hashrate_unit", "pool_hashrate", "pool_hashrate_unit",
    "mining_earnings", "mining_earnings_satoshis", "fpps_mining_earnings",
    "fpps_mining_earnings_satoshis", "estimated_next_difficulty", "difficulty_change",
    "time_remain", "exchange_rate", "fpps_rate",
}  # fmt: skip
INCOME_KEYS = {  # the live answer's fields
    "hashrate", "diff", "income_hashrate_unit", "income_coin", "income_usd", "income_cny",
    "income_optimize_coin", "income_optimize_usd", "income_optimize_cny", "diff_adjust_time",
    "next_diff",
}  # fmt: skip


def record_network(node: Node, difficulty: str, height: int, fees_sat: int) -> None:
    node.service.store.record_network(YESTERDAY, difficulty, height, fees_sat, "cli", YESTERDAY)


def per_th_day_sat(difficulty: int, reward_sat: int) -> Fraction:
    """86400 x 1e12 / (difficulty x 2**32) blocks a day for 1 TH/s, times the reward."""
    return TH_DAY_DIFF / difficulty * reward_sat


def public(node: Node, path: str, **params: Any) -> Any:
    return node.data(path, user="", **params)


def error(node: Node, path: str, **params: Any) -> str:
    body = node.api("GET", path, user="", **params)
    assert body["err_no"] == 1 and body["data"] is None, body
    message: str = body["err_msg"]
    return message


# --- /v1/pool/status --------------------------------------------------------------------------


def test_pool_status_from_the_network_state_and_the_pools_shares(node: Node) -> None:
    difficulty, fees = 520_808_749_422, 55_350_000  # 0.5535 BTC of fees a block
    record_network(node, str(difficulty), 460_000, fees)
    # 90 shares of 2^20 in the last 15 minutes: 90 x 2^52 / 900 H/s = 450.36 TH/s
    share = {"ts": NOW - 30, "puid": 1, "worker": "r", "diff": MIB, "accepted": True}
    node.ingest(*[share] * 90)
    node.service.flush()
    data = public(node, "/v1/pool/status")
    assert set(data) == STATUS_KEYS
    pps = math.floor(per_th_day_sat(difficulty, SUBSIDY_12_5))
    fpps = math.floor(per_th_day_sat(difficulty, SUBSIDY_12_5 + fees))
    assert pps == 48282  # BTC.COM's own example for this difficulty: "0.00048282"
    network_eh = difficulty * 2**32 / 600 / 1e18  # 3.728 EH/s
    assert data == {
        "network_hashrate": f"{network_eh:.2f}",
        "network_hashrate_unit": "E",
        "pool_hashrate": 450.4,
        "pool_hashrate_unit": "T",
        "mining_earnings": "0.00048282",
        "mining_earnings_satoshis": "48282",
        "fpps_mining_earnings": f"0.{fpps:08d}",
        "fpps_mining_earnings_satoshis": str(fpps),
        "estimated_next_difficulty": None,  # needs block times, which poolstats does not keep
        "difficulty_change": None,
        "time_remain": None,
        "exchange_rate": None,  # no price feed
        "fpps_rate": "0.04428000",  # 55,350,000 / 1,250,000,000
    }
    assert data["network_hashrate"] == "3.73"


def test_pool_status_before_any_network_state_or_share(node: Node) -> None:
    data = public(node, "/v1/pool/status/")  # BTC.COM's path ends with a slash
    assert data == {key: None for key in STATUS_KEYS} | {
        "pool_hashrate": 0.0,
        "pool_hashrate_unit": "H",
    }


def test_pool_status_needs_no_key_and_ignores_one(node: Node) -> None:
    record_network(node, "1000", 840_000, 0)
    bare = public(node, "/v1/pool/status")
    assert node.data("/v1/pool/status") == bare  # alice's key: the same public answer
    assert public(node, "/v1/pool/status", access_key="wrong", puid="x") == bare


def test_pool_status_follows_a_new_network_state(node: Node) -> None:
    """The entry in force now is the one shown: a halving at the next entry halves PPS."""
    record_network(node, "100000000000000", 839_999, 0)
    before = public(node, "/v1/pool/status")["mining_earnings_satoshis"]
    node.service.store.record_network(NOW - 10, "100000000000000", 840_000, 0, "cli", NOW)
    after = public(node, "/v1/pool/status")["mining_earnings_satoshis"]
    assert before == str(math.floor(per_th_day_sat(10**14, 625_000_000)))
    assert after == str(math.floor(per_th_day_sat(10**14, 312_500_000)))


# --- /v1/pool/share-history -------------------------------------------------------------------


def test_pool_share_history_adds_up_every_sub_account(node: Node) -> None:
    """The golden shares (tests.api.golden): alice's rig2 30 x 2^20 in the hour before H0;
    in the open hour (800 s old) alice's rig1 60 x 2^20 accepted and 1 x 2^20 rejected, and
    bob's 10 x 2^16 accepted, which alice's own history leaves out."""
    load(node)
    accepted_open = 60 * MIB + 10 * 2**16
    rejected_pct = f"{100 * MIB / (accepted_open + MIB):.2f}"  # 1.62 (alice alone: 1.64)
    data = public(node, "/v1/pool/share-history", dimension="1h", start_ts=-7200, count=3)
    assert set(data) == {"unit", "tickers"}  # docs/pool.md: "unit", not "shares_unit"
    assert data == {
        "unit": "T",
        "tickers": [
            [str(H0 - 7200), None, None],
            [str(H0 - 3600), f"{30 * MIB * 2**32 / 3600 / 1e12:.2f}", "0.00"],  # 37.53
            [str(H0), f"{accepted_open * 2**32 / 3600 / 1e12:.2f}", rejected_pct],  # 75.84
        ],
    }
    assert rejected_pct == "1.62"
    # real_point: the open hour over its 800 elapsed seconds: 341.3 T
    real = public(
        node, "/v1/pool/share-history/", dimension="1h", start_ts=H0, count=5, real_point=1
    )
    assert real["tickers"] == [[str(H0), f"{accepted_open * 2**32 / 800 / 1e12:.1f}", "1.62"]]


def test_pool_share_history_by_day(node: Node) -> None:
    """Daily buckets: yesterday holds rig3's share of 1024 (at NOW - 87000), today the rest;
    today's open day (80000 s old) is spread over the whole day, as the old rule does."""
    load(node)
    data = public(node, "/v1/pool/share-history", dimension="1d", start_ts=-DAY, count=2)
    today = (90 * MIB + 10 * 2**16) * 2**32 / DAY / 1e12  # 4.72 T
    yesterday_t = 1024 * 2**32 / DAY / 1e12  # 0.0000509 T
    assert data["unit"] == "T"
    rejected_pct = f"{100 * MIB / (90 * MIB + 10 * 2**16 + MIB):.2f}"
    assert data["tickers"][1] == [str(TODAY), f"{today:.3f}", rejected_pct]
    assert data["tickers"][0][0] == str(YESTERDAY)
    assert float(data["tickers"][0][1]) == pytest.approx(yesterday_t, rel=1e-3)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_ts": -3600, "count": 1}, "dimension"),
        ({"dimension": "1m", "start_ts": -3600, "count": 1}, "dimension"),
        ({"dimension": "1h", "count": 1}, "start_ts"),
        ({"dimension": "1h", "start_ts": "soon", "count": 1}, "start_ts"),
        ({"dimension": "1h", "start_ts": -3600, "count": 0}, "count"),
        ({"dimension": "1h", "start_ts": -3600}, "count"),
    ],
)
def test_pool_share_history_refuses_bad_parameters_by_name(
    node: Node, params: dict[str, Any], field: str
) -> None:
    assert error(node, "/v1/pool/share-history", **params).startswith(field)


# --- /v1/pool/node-list and /v1/pool/url-config -----------------------------------------------

URLS = "cn=cn.example:3333, cn=cn.example:443,us=[2001:db8::1]:3333,cn=cn.example:3333"


def test_node_list_and_url_config_advertise_the_setting(make_node: Callable[..., Node]) -> None:
    node = make_node(pool_stratum_urls=URLS)
    cn = ["cn.example:3333", "cn.example:443"]  # the repeated address once
    us = ["[2001:db8::1]:3333"]
    here = "http://testserver"  # the TestClient's base URL: where this node's API answers
    assert public(node, "/v1/pool/node-list") == [
        {"default_url": here, "ping_url": here + "/healthz", "region_name": "cn", "text": "cn",
         "stratum": cn},
        {"default_url": here, "ping_url": here + "/healthz", "region_name": "us", "text": "us",
         "stratum": us},
    ]  # fmt: skip
    assert node.client.get(here + "/healthz").status_code == 200  # the ping URL answers
    cn_config = {"region": "cn", "region_id": 1, "region_name": "cn", "config": cn}
    us_config = {"region": "us", "region_id": 2, "region_name": "us", "config": us}
    assert public(node, "/v1/pool/url-config/") == [cn_config, us_config]
    assert public(node, "/v1/pool/url-config", region_id=2) == [us_config]
    assert error(node, "/v1/pool/url-config", region_id=3).startswith("region_id")
    assert error(node, "/v1/pool/url-config", region_id="cn").startswith("region_id")


def test_node_list_and_url_config_are_empty_by_default(node: Node) -> None:
    assert public(node, "/v1/pool/node-list") == []
    assert public(node, "/v1/pool/url-config") == []
    assert node.data("/v1/pool/node-list") == []  # a key changes nothing


@pytest.mark.parametrize(
    "urls",
    ["cn", "cn=", "cn=host", "cn=host:0", "cn=host:65536", "cn=host:33x", "=host:1",
     "c n=host:1", "cn=ho st:1", "cn=:3333", "cn=[::1:3333"],
)  # fmt: skip
def test_a_mistyped_stratum_setting_stops_the_start(
    make_node: Callable[..., Node], urls: str
) -> None:
    with pytest.raises(ValueError, match="pool_stratum_urls"):
        make_node(pool_stratum_urls=urls)


# --- /v1/coins-income -------------------------------------------------------------------------


def test_coins_income_matches_btccoms_live_figure(node: Node) -> None:
    """Difficulty 16552923967337 before the 2020 halving: BTC.COM answered income_coin
    1.5191098300358e-5 BTC a day per TH/s."""
    difficulty, fees = 16_552_923_967_337, 81_450_000
    record_network(node, str(difficulty), 620_000, fees)
    data = public(node, "/v1/coins-income", lang="en")
    assert set(data) == {"btc"}
    btc = data["btc"]
    assert set(btc) == INCOME_KEYS
    assert btc["income_coin"] == pytest.approx(1.5191098300358e-5, rel=1e-12)
    assert btc == {
        "hashrate": pytest.approx(difficulty * 2**32 / 600, rel=1e-12),
        "diff": difficulty,
        "income_hashrate_unit": "T",
        "income_coin": pytest.approx(float(per_th_day_sat(difficulty, SUBSIDY_12_5) / 10**8)),
        "income_usd": None,  # no price feed
        "income_cny": None,
        "income_optimize_coin": pytest.approx(
            float(per_th_day_sat(difficulty, SUBSIDY_12_5 + fees) / 10**8)
        ),
        "income_optimize_usd": None,
        "income_optimize_cny": None,
        "diff_adjust_time": None,  # needs block times, which poolstats does not keep
        "next_diff": None,
    }


def test_coins_income_ignores_keys_and_lists_no_coin_before_a_network_state(node: Node) -> None:
    assert public(node, "/v1/coins-income") == {}
    record_network(node, "110451907374649.75", 840_000, 0)
    bare = public(node, "/v1/coins-income")
    assert bare["btc"]["diff"] == 110451907374649  # rounded down
    keyed = node.data("/v1/coins-income", lang="zh-cn")  # alice's key and puid-less
    assert keyed == bare
    assert public(node, "/v1/coins-income/", access_key="nope", puid="7", lang="en") == bare


def test_income_is_what_the_ledger_pays_for_a_th_s_day(node: Node) -> None:
    """One share worth exactly 1 TH/s for a day (86400e12 / 2^32 = 20116567.46125..., a
    multiple of 2^-20) settled yesterday under PPS and the pool's 2% fee: the ledger pays
    what coins-income and pool status say a TH/s earns, less that fee."""
    difficulty = 110_451_907_374_649
    record_network(node, str(difficulty), 840_000, 0)
    assert node.service.refresh_network()
    th_day = float(TH_DAY_DIFF)
    assert Fraction(th_day) == TH_DAY_DIFF  # exact: 27 x 5^14 / 2^13
    share = {"ts": YESTERDAY + 3600, "puid": 1, "worker": "r", "diff": th_day, "accepted": True}
    node.ingest(share)
    node.service.flush()
    assert node.service.settle_due() is not None
    paid = node.data("/v1/account/earn-history")["list"][0]["earnings"]
    exact = per_th_day_sat(difficulty, 312_500_000)
    assert paid == math.floor(exact * Fraction(98, 100))
    income = public(node, "/v1/coins-income")["btc"]["income_coin"]
    assert paid == pytest.approx(income * 10**8 * 0.98, abs=1)
    status = public(node, "/v1/pool/status")
    assert status["mining_earnings_satoshis"] == str(math.floor(exact))


def test_new_endpoints_are_in_the_openapi_document_as_public(node: Node) -> None:
    paths = node.client.get("/openapi.json").json()["paths"]
    wanted = {
        "/v1/pool/status": set(),
        "/v1/pool/share-history": {"dimension", "start_ts", "count", "real_point"},
        "/v1/pool/node-list": set(),
        "/v1/pool/url-config": {"region_id"},
        "/v1/coins-income": set(),
    }
    for path, names in wanted.items():
        parameters = paths[path]["get"].get("parameters", [])
        assert {p["name"] for p in parameters if p["in"] == "query"} == names, path
