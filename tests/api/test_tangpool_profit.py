"""Tangpool's earnings document (profit.md) served from the ledger through a real node:
ingest, flush, settle, pay. Figures by hand: difficulty 1000 at height 840,000 (3.125 BTC
subsidy) and the pool's 2% fee make one difficulty worth 312,500,000 x 0.98 / 1000 = 306,250
satoshis; Tangpool shows BTC numbers, written with their 8 decimals."""

from __future__ import annotations

from typing import Any

import pytest

from poolstats.store import ledger
from tests.api.conftest import ALICE, T0, Node
from tests.api.test_spec_shapes import shape

DAY = 86400
TODAY = int(T0) - int(T0) % DAY  # 2023-11-14 00:00 UTC (T0 is 22:13:20)
YESTERDAY = TODAY - DAY
ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TXID = "466af581cbf52af00dc0273ced28c17e8b7a7c6a92a4ce0ae104af4ff0d557c0"


def share(ts: float, diff: float, user: str = "alice") -> dict[str, object]:
    return {"ts": ts, "user": user, "worker": "rig1", "diff": diff, "accepted": True}


@pytest.fixture
def mined(node: Node) -> Node:
    node.service.store.record_network(YESTERDAY, "1000", 840_000, 0, "cli", YESTERDAY)
    assert node.service.refresh_network()
    node.ingest(
        *(share(YESTERDAY + 3600 * (i + 1), 250.0) for i in range(4)),  # 1000: 306,250,000
        share(T0 - 60, 100.0),  # 30,625,000
        share(T0 - 10, 7.0, user="bob"),  # bob's own
    )
    node.service.flush()
    return node


def get(node: Node, path: str, **params: Any) -> Any:
    response = node.client.get(path, params=params, headers={"X-Access-Key": node.key["alice"]})
    assert response.status_code == 200, response.text
    return response.json()


def test_profit_is_paid_todays_and_awaiting_payment_in_btc(mined: Node) -> None:
    response = mined.client.get("/public/profit/", params={"__access_key__": mined.key["alice"]})
    assert response.status_code == 200
    # amounts are exact: the decimal the ledger's satoshis make, not a float's
    assert response.text == (
        '{"total_payout":0.00000000,"today_profit":0.30625000,"total_balance":0.00000000}'
    )
    assert mined.service.settle_due() is not None  # yesterday: 306,250,000 awaits payment
    assert get(mined, "/public/profit") == {
        "total_payout": 0, "today_profit": 0.30625, "total_balance": 3.0625}  # fmt: skip
    store = mined.service.store
    store.update_subaccount_profile(ALICE, {"address": ADDRESS}, int(T0))
    batch = ledger.create_batch(store, int(T0)).batch
    assert batch is not None
    assert get(mined, "/public/profit/")["total_balance"] == 3.0625  # pending: still awaited
    ledger.confirm_batch(store, batch.id, TXID, int(T0) + 100)
    answer = get(mined, "/public/profit/")
    assert answer == {"total_payout": 3.0625, "today_profit": 0.30625, "total_balance": 0}
    example = {"total_payout": 0.020001, "today_profit": 27.00954142,
               "total_balance": 217.77072623}  # fmt: skip
    assert shape(answer) == shape(example)


def test_each_settled_day_is_a_payout_record(mined: Node) -> None:
    none = get(mined, "/public/profit/transaction/")
    assert none == {"current_page": 1, "per_page": 15, "total": 0, "from": None, "to": None,
                    "last_page": 1, "data": []}  # fmt: skip
    assert mined.service.settle_due() is not None
    # the day's 1000 difficulty is 1000 * 2^32 / 86400 = 49.710 MH/s on average
    record = {"amount": 3.0625, "payout_percent": "100", "ymd": "2023-11-13",
              "payout_address": "", "user_id": str(ALICE), "tx_id": "", "share_unit": "M",
              "share_avg": "49.710"}  # fmt: skip
    answer = get(mined, "/public/profit/transaction/")
    assert answer == {"current_page": 1, "per_page": 15, "total": 1, "from": 1, "to": 1,
                      "last_page": 1, "data": [record]}  # fmt: skip
    store = mined.service.store
    store.update_subaccount_profile(ALICE, {"address": ADDRESS}, int(T0))
    batch = ledger.create_batch(store, int(T0)).batch
    assert batch is not None
    ledger.confirm_batch(store, batch.id, TXID, int(T0) + 100)
    paid = get(mined, "/public/profit/transaction")
    assert paid["data"] == [{**record, "payout_address": ADDRESS, "tx_id": TXID}]
    assert get(mined, "/public/profit/transaction/", page=2)["data"] == []
    example = {"current_page": 1, "per_page": 15, "total": 3, "from": 1, "to": 3,
               "last_page": 1,
               "data": [{"amount": 0.01, "payout_percent": "100", "ymd": "2015-01-07",
                         "payout_address": "1M5bZmBwmGRxpxHgZG7FfBMT2Pz8HEVFrFx",
                         "user_id": "18", "tx_id": "fe4fe4f5a6af69a6e01a7116685bc8c6",
                         "share_unit": "T", "share_avg": "3.285"}]}  # fmt: skip
    assert shape(paid) == shape(example)


@pytest.mark.parametrize("path", ["/public/profit/", "/public/profit/transaction/"])
def test_profit_wants_the_key_and_a_puid_of_its_own(mined: Node, path: str) -> None:
    missing = mined.client.get(path)
    assert missing.status_code == 401
    assert missing.json() == {"errorCode": "UNAUTHENTICATED",
                              "errorMsg": "__access_key__: missing"}  # fmt: skip
    foreign = mined.client.get(path, params={"__access_key__": mined.key["alice"], "puid": 2})
    assert (foreign.status_code, foreign.json()["errorCode"]) == (401, "UNAUTHENTICATED")
    bad = mined.client.get(path, params={"__access_key__": mined.key["alice"], "puid": "x"})
    assert (bad.status_code, bad.json()["errorMsg"][:5]) == (400, "puid:")


def test_transaction_page_must_be_a_page_number(mined: Node) -> None:
    for page in ("0", "x"):
        response = mined.client.get(
            "/public/profit/transaction/",
            params={"page": page, "__access_key__": mined.key["alice"]},
        )
        assert response.status_code == 400
        assert response.json()["errorMsg"].startswith("page:")
