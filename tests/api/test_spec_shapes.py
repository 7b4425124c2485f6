"""Every answer has the shape of the spec documents' examples: the same keys, nested the
same way, with the same JSON types (strings stay strings, numbers numbers).

The examples are the documents' own (trimmed to one list item); where a document shows two
variants of an object, the first is the one served (see docs/api.md). The live API added
fields to them: the raw hashrates (``PURE``, the types the live answers had: strings for
1m/5m/15m, numbers for 1h/1d), a 1-hour figure and, in worker items, ``reject_percent_1d``.
Answers the spec does not show take BTC.COM's published document's example.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Node
from tests.api.golden import RIG1, load

PURE = {"shares_1m_pure": "75061139114121", "shares_5m_pure": "75061139114121",
        "shares_15m_pure": "75061139114121", "shares_1h_pure": 0, "shares_1d_pure": 0}  # fmt: skip
LIVE = {"shares_1h": "0", **PURE}
SHARES_BLOCK = {"shares_1m": "1.466", "shares_5m": "2.140", "shares_15m": "2.345",
                "shares_unit": "G", "shares_1d": "23.32", "shares_1d_unit": "T",
                **LIVE}  # fmt: skip
GROUP = {"gid": -1, "sort_id": "-1", "name": "DEFAULT", "created_at": 1468225322,
         "updated_at": 1468225322, "workers_active": 10, "workers_inactive": 11,
         "workers_dead": 3, "workers_total": 24, **SHARES_BLOCK}  # fmt: skip
# Listed by BTC.COM's live API for a worker, not by the documents (docs/api.md).
LIVE_FACTS = {"first_share_time": 1468226000, "miner_agent": "cgminer/4.10.0"}
WORKER_ITEM = {"gid": "-1", "group_name": "DEFAULT", "worker_id": "40", "worker_name": "km",
               "shares_1m": "439.8", "shares_5m": "674.3", "shares_15m": "733.0",
               "shares_unit": "G", "accept_count": "36395008", "last_share_time": "1468393691",
               "last_share_ip": "192.168.1.254", "reject_percent": "3.05", "shares_1d": "23.32",
               "shares_1d_unit": "T", "status": "DEAD", **LIVE,
               "reject_percent_1d": "0.00", **LIVE_FACTS}  # fmt: skip
HISTORY = {"shares_unit": "T", "tickers": [["1468393200", "1.466", "0.01"]]}

EXAMPLES: dict[str, Any] = {
    "/v1/worker/groups": {"page": 1, "page_size": 10, "page_count": 1, "total_count": 1,
                          "list": [GROUP]},
    "/v1/worker/stats": {"shares_1m": "111", "shares_5m": "222", "shares_15m": "333",
                         "shares_unit": "G", "workers_active": 1, "workers_inactive": 2,
                         "workers_dead": 0, "workers_total": 3, **LIVE},
    # BTC.COM's worker document
    "/v1/worker/full-stats": {"workers_active": 0, "workers_inactive": 0, "workers_dead": 0,
                              "shares_1m": "0", "shares_5m": "0", "shares_15m": "0",
                              "workers_total": 0, "shares_unit": "T",
                              "shares_1d": {"size": 0, "unit": "T"},
                              "shares_1h": {"size": "0", "unit": "T"}},
    # BTC.COM's groups document (its example is gid 0, ALL), with the spec's 1-day figure
    "/v1/groups/0": {"workers_active": 0, "workers_inactive": 0, "workers_dead": 0,
                     "shares_1m": "0", "shares_5m": "0", "shares_15m": "0",
                     "workers_total": 0, "shares_unit": "G", "gid": 0, "sort_id": "-1",
                     "name": "ALL", "created_at": 1469604282, "updated_at": 1469604282,
                     "shares_1d": "23.32", "shares_1d_unit": "T", **LIVE},
    "/v1/groups/simple": [{"gid": "-1", "name": "DEFAULT"}, {"gid": 4, "name": "404"}],
    "/v1/worker/share-history": HISTORY,
    "/v1/worker": {"page": 1, "page_size": 10, "page_count": 1, "total_count": 1,
                   "data": [WORKER_ITEM]},
    f"/v1/worker/{RIG1}": {"worker_id": 10, "worker_name": "woca", "shares_1m": "1111",
                           "shares_5m": "3333", "shares_15m": "4444", "shares_unit": "G",
                           "shares_1d": "123.2", "shares_1d_unit": "G",
                           "accept_count": "1111", "accept_percent": 0.985,
                           "reject_percent": "0.01", "last_share_ip": "1.2.3.4",
                           "ip2location": "中国 河南", "last_share_time": 1468226849,
                           "worker_status": "DEAD", **LIVE, **LIVE_FACTS},
    f"/v1/worker/{RIG1}/share-history": HISTORY,
    "/public/v1/pool/stats": {"shares": {"shares_1m": 114.6, "shares_5m": 115.6,
                                         "shares_15m": 115.8, "shares_unit": "P"},
                              "reject": {"1m": 0.0, "5m": 0.0, "15m": 0.0007},
                              "workers": 15424, "users": 555},
    "/v1/account/info": {"user_id": 88888, "user_name": "spica", "address": "3NA8h",
                         "nmc_address": "", "rebates_address": "", "region": "中国",
                         "contact": {"mail": "", "phone": {"country": "86",
                                                           "number": "133****3333"}},
                         "alert": {"hashrate_max": "0", "hashrate_value": "0",
                                   "hashrate_unit": "T", "hashrate_alert": 0,
                                   "miner_max": "0", "miner_value": "0", "miner_alert": 0,
                                   "alert_interval": 6},
                         "pay_limit": "0.00500000"},  # poolstats' own (docs/api.md)
    "/v1/account/earn-stats": {"total_paid": "0", "pending_payouts": "0",
                               "last_payment_time": "0", "earnings_today": "0",
                               "earnings_yesterday": "0", "unpaid": "0"},
    "/v1/account/earn-history": {"page": "1", "page_size": "50", "page_count": 1,
                                 "total_count": 50, "list": []},
    "/v1/realtime/hashrate": {"shares_15m": "22.88", "shares_15m_unit": "P",
                              "shares_1d": "23.33", "shares_1d_unit": "P", **PURE},
}  # fmt: skip
HISTORY_PARAMS = {"dimension": "1h", "start_ts": -7200, "count": 3}


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; a list is described by its first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else type(value).__name__


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_answers_have_the_spec_examples_shape(node: Node, path: str) -> None:
    load(node)
    params = HISTORY_PARAMS if path.endswith("share-history") else {}
    data = node.data(path, **params)
    if path.endswith("share-history"):  # a point without data is [ts, null, null]
        data["tickers"] = [t for t in data["tickers"] if t[1] is not None]
    assert shape(data) == shape(EXAMPLES[path])


def test_tangpool_answer_has_the_spec_examples_shape(node: Node) -> None:
    load(node)
    example = {"unit": "T", "share": {"1421375400": {"reject": "0.029", "accept": "1.477"}}}
    answer = node.client.get(
        "/public/worker/share/",
        params={"dimension": "1h", "start_ts": -7200, "count": 2,
                "__access_key__": node.key["alice"]},
    ).json()  # fmt: skip
    points = {ts: p for ts, p in answer["share"].items() if p is not None}
    assert shape({"unit": answer["unit"], "share": dict(list(points.items())[:1])}) == {
        "unit": "str",
        "share": {next(iter(points)): shape(example["share"]["1421375400"])},
    }
