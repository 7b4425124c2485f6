"""earn-stats and earn-history from real shares through a real node: ingest, flush, settle,
pay. Expected figures are worked out by hand: difficulty 1000 at height 840,000 (3.125 BTC
subsidy) and the pool's 2% fee make one difficulty worth 312,500,000 x 0.98 / 1000 = 306,250
satoshis."""

from __future__ import annotations

from poolstats.store import ledger
from tests.api.conftest import T0, Node

DAY = 86400
TODAY = int(T0) - int(T0) % DAY  # 2023-11-14 00:00 UTC (T0 is 22:13:20)
YESTERDAY = TODAY - DAY
ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TXID = "466af581cbf52af00dc0273ced28c17e8b7a7c6a92a4ce0ae104af4ff0d557c0"


def share(ts: float, diff: float, user: str = "alice") -> dict[str, object]:
    return {"ts": ts, "user": user, "worker": "rig1", "diff": diff, "accepted": True}


def mine(node: Node) -> None:
    node.service.store.record_network(YESTERDAY, "1000", 840_000, 0, "cli", YESTERDAY)
    assert node.service.refresh_network()
    node.ingest(
        *(share(YESTERDAY + 3600 * (i + 1), 250.0) for i in range(4)),  # 1000: 306,250,000
        share(T0 - 60, 100.0),  # 30,625,000
        share(T0 - 30, 5000.0),  # above the network's: one whole block share, 306,250,000
        {**share(T0 - 20, 999.0), "accepted": False},  # rejected: earns nothing
        share(T0 - 10, 7.0, user="bob"),  # 2,143,750 for bob
    )
    node.service.flush()


def test_earnings_are_estimated_settled_and_paid(node: Node) -> None:
    mine(node)
    assert node.data("/v1/account/earn-stats") == {
        "total_paid": "0",
        "pending_payouts": "0",
        "last_payment_time": "0",
        "earnings_today": "336875000",
        "earnings_yesterday": "306250000",  # an estimate until settled
        "unpaid": "0",
    }
    assert node.data("/v1/account/earn-history")["list"] == []

    done = node.service.settle_due()  # T0 is long after midnight + settle_after_s
    assert done is not None and done.days == [YESTERDAY]
    assert node.service.settle_due() is None  # once a day
    assert node.metrics("poolstats_settled_through_seconds") == {(): YESTERDAY}
    assert node.counter("poolstats_earnings_settled_sat_total") == 306_250_000
    stats = node.data("/v1/account/earn-stats")
    assert (stats["earnings_yesterday"], stats["unpaid"]) == ("306250000", "306250000")
    # 1000 difficulty in a day is 1000 * 2**32 / 86400 H/s; 3.0625 BTC per that in PH/s
    rate = round(3.0625 / (1000 * 2**32 / 86400 / 1e15), 8)
    unpaid_day = {
        "date": 20231113,
        "earnings": 306_250_000,
        "payment_time": "0",
        "payment_tx": "",
        "address": "",
        "paid_amount": 0,
        "diff": 1000,
        "payment_mode": "PPS",
        "earnings_rate": rate,
    }
    assert node.data("/v1/account/earn-history") == {
        "page": "1",
        "page_size": "10",
        "page_count": 1,
        "total_count": 1,
        "list": [unpaid_day],
    }

    store = node.service.store
    store.update_subaccount_profile(node.puid["alice"], {"address": ADDRESS}, int(T0))
    batch = ledger.create_batch(store, int(T0)).batch
    assert batch is not None and batch.total_sat == 306_250_000
    assert node.data("/v1/account/earn-stats")["pending_payouts"] == "306250000"
    ledger.confirm_batch(store, batch.id, TXID, int(T0) + 100)  # 2023-11-14 22:15:00
    stats = node.data("/v1/account/earn-stats")
    assert (stats["total_paid"], stats["pending_payouts"], stats["unpaid"]) == (
        "306250000",
        "0",
        "0",
    )
    assert stats["last_payment_time"] == "2023-11-14 22:15:00"
    paid_day = {
        **unpaid_day,
        "payment_time": "2023-11-14 22:15:00",
        "payment_tx": TXID,
        "address": ADDRESS,
        "paid_amount": 306_250_000,
    }
    assert node.data("/v1/account/earn-history", page=1, page_size=50)["list"] == [paid_day]
    assert node.data("/v1/account/earn-history", page=2, page_size=1)["list"] == []

    bob = node.data("/v1/account/earn-stats", user="bob")
    assert (bob["earnings_today"], bob["unpaid"]) == ("2143750", "0")  # his own only


def test_earn_history_page_size_is_1_to_50(node: Node) -> None:
    for size in (0, 51):
        body = node.api("GET", "/v1/account/earn-history", page_size=size)
        assert body["err_no"] == 1 and "page_size" in body["err_msg"]
