"""Tangpool's pool document (pool.md) served: found blocks, the newest block, the pool's
hashrate history and its luck; public, in Tangpool's shapes and error form.

At T0 (2023-11-14 22:13:20 UTC) the hour began at H0 = T0 - 800; TODAY and YESTERDAY are
UTC midnights. Expected figures are worked out by hand from what each test puts in.
"""

from __future__ import annotations

from typing import Any

import pytest

from poolstats.domain.found_block import BlockStatus, FoundBlock
from poolstats.store.blocks import BlockStore
from tests.api.conftest import ALICE, BOB, T0, Node
from tests.api.test_spec_shapes import shape

NOW = int(T0)
H0 = NOW - 800
DAY = 86400
TODAY = NOW - NOW % DAY  # 2023-11-14
YESTERDAY = TODAY - DAY


def get(node: Node, path: str, **params: Any) -> Any:
    """A successful GET without any key: the pool's figures are public."""
    response = node.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def found(node: Node, height: int, at: int, status: BlockStatus, hash_byte: str) -> None:
    block = FoundBlock(height, hash_byte * 32, ALICE, "rig1", 312_500_000 + height % 10, at,
                       status)  # fmt: skip
    BlockStore(node.service.store).record(block, NOW)


def test_blocks_are_listed_newest_first_15_a_page(node: Node) -> None:
    node.service.store.record_network(NOW - 100, "1000", 900_003, 0, "cli", NOW - 100)
    found(node, 900_000, NOW - 600, BlockStatus.ACCEPTED, "11")
    found(node, 900_001, NOW - 60, BlockStatus.REJECTED, "22")
    found(node, 900_002, NOW, BlockStatus.SUBMITTED, "33")
    response = node.client.get("/public/pool/block/")
    assert response.status_code == 200
    # rewards are BTC numbers with their 8 decimals, written exactly
    assert '"blk_rewards":3.12500002' in response.text
    answer = response.json()
    assert answer == {
        "data": [
            # submitted: no verdict yet, so no confirmations; 60 s after the one before
            {"confirmed_blocks_count": 0, "running_duration": 60, "blk_height": "900002",
             "blk_rewards": 3.12500002, "blk_hash": "33" * 32, "is_orphan": "0",
             "blk_size": "0", "created_at": "2023-11-14 22:13:20"},
            # rejected by the node: shown as an orphan
            {"confirmed_blocks_count": 0, "running_duration": 540, "blk_height": "900001",
             "blk_rewards": 3.12500001, "blk_hash": "22" * 32, "is_orphan": "1",
             "blk_size": "0", "created_at": "2023-11-14 22:12:20"},
            # accepted: the chain is known up to 900003, so 900000 has 4 confirmations
            {"confirmed_blocks_count": 4, "running_duration": 0, "blk_height": "900000",
             "blk_rewards": 3.125, "blk_hash": "11" * 32, "is_orphan": "0",
             "blk_size": "0", "created_at": "2023-11-14 22:03:20"},
        ],
        "from": 1, "to": 3, "total": 3, "per_page": 15, "last_page": 1, "current_page": 1,
    }  # fmt: skip
    assert get(node, "/public/pool/block", page=2) == {
        "data": [], "from": None, "to": None, "total": 3, "per_page": 15, "last_page": 1,
        "current_page": 2,
    }  # fmt: skip
    example = {"data": [{"confirmed_blocks_count": 12, "running_duration": 6924,
                         "blk_height": "319730", "blk_rewards": 25.00075,
                         "blk_hash": "000000000000011f6d551aa304cd9a2f9f130def1974e529ee4b078b",
                         "is_orphan": "0", "blk_size": "3963",
                         "created_at": "2015-01-27 02:19:35"}],
               "from": 1, "to": 15, "total": 883, "per_page": 15, "last_page": 59,
               "current_page": 1}  # fmt: skip
    assert shape(answer) == shape(example)


def test_blocks_page_on_and_the_gap_reaches_past_the_page(node: Node) -> None:
    for i in range(16):  # one block every 100 s, the newest at NOW
        found(node, 800_000 + i, NOW - 100 * (15 - i), BlockStatus.ACCEPTED, f"{i:02x}")
    first = get(node, "/public/pool/block/")
    assert (first["total"], first["last_page"], first["from"], first["to"]) == (16, 2, 1, 15)
    assert [b["running_duration"] for b in first["data"]] == [100] * 15  # the 15th's too
    second = get(node, "/public/pool/block/", page=2)
    assert [(b["blk_height"], b["running_duration"]) for b in second["data"]] == [("800000", 0)]
    assert (second["from"], second["to"]) == (16, 16)
    # the pool's own newest block (800015) is the newest height known: 800000 has 16
    assert second["data"][0]["confirmed_blocks_count"] == 16


def test_latest_is_the_newest_block_known(node: Node) -> None:
    missing = node.client.get("/public/pool/block/latest/")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "NOT_FOUND"
    node.service.store.record_network(NOW - 100, "1000", 900_003, 0, "cli", NOW - 100)
    # a network entry: its height and time, its hash not known
    assert get(node, "/public/pool/block/latest/") == {
        "timestamp": NOW - 100, "created_at": "2023-11-14 22:11:40", "latest_hash": "",
        "latest_height": "900003",
    }  # fmt: skip
    found(node, 900_004, NOW - 5, BlockStatus.ACCEPTED, "44")
    latest = get(node, "/public/pool/block/latest")
    assert latest == {"timestamp": NOW - 5, "created_at": "2023-11-14 22:13:15",
                      "latest_hash": "44" * 32, "latest_height": "900004"}  # fmt: skip
    example = {"timestamp": 1425454882, "created_at": "2015-03-04 07:41:22",
               "latest_hash": "00000000000001b8b0ae27b5c55747cda89cd58ffafdf9e15741526cf0f8788b",
               "latest_height": "325042"}  # fmt: skip
    assert shape(latest) == shape(example)


def test_pool_history_adds_every_sub_account_and_15m_from_5m(node: Node) -> None:
    # alice 36 accepted + 18 rejected at H0 - 1200 and bob 54 at H0 - 1700: both in the
    # 15-minute interval H0 - 1800 .. H0 - 900 (the pool keeps 5-minute buckets, two of them
    # here): 90 * 2^32 / 900 = 429.497 M accepted, 18 * 2^32 / 900 = 85.899 M rejected
    node.ingest(
        {"ts": H0 - 1200, "puid": ALICE, "worker": "rig1", "diff": 36, "accepted": True},
        {"ts": H0 - 1200, "puid": ALICE, "worker": "rig1", "diff": 18, "status": "reject"},
        {"ts": H0 - 1700, "puid": BOB, "worker": "bobrig", "diff": 54, "accepted": True},
    )
    node.service.flush()
    answer = get(node, "/public/pool/share/", dimension="15m", start_ts=-3600, count=4)
    assert answer == {"unit": "M", "share": {
        str(H0 - 2700): None, str(H0 - 1800): None,
        str(H0 - 900): {"accept": "429.497", "reject": "85.899"}, str(H0): None}}  # fmt: skip
    # 5m: bob's bucket H0 - 1800 .. H0 - 1500 alone: 54 * 2^32 / 300 = 773.094 M
    five = get(node, "/public/pool/share", dimension="5m", start_ts=H0 - 1800, count=1)
    assert five == {"unit": "M", "share": {str(H0 - 1500): {"accept": "773.094",
                                                            "reject": "0.000"}}}  # fmt: skip


def test_luck_is_blocks_found_over_blocks_expected_per_day(node: Node) -> None:
    store = node.service.store
    store.record_network(YESTERDAY, "1000", 900_000, 0, "cli", YESTERDAY)
    store.record_network(TODAY + DAY // 2, "2000", 900_100, 0, "cli", TODAY + DAY // 2)
    node.ingest(
        *({"ts": YESTERDAY + 3600 * (i + 1), "puid": ALICE, "worker": "rig1", "diff": 125,
           "accepted": True} for i in range(2)),
        {"ts": NOW - 60, "puid": BOB, "worker": "bobrig", "diff": 100, "accepted": True},
    )  # fmt: skip
    node.service.flush()
    found(node, 900_050, YESTERDAY + 7200, BlockStatus.ACCEPTED, "aa")
    found(node, 900_051, YESTERDAY + 7300, BlockStatus.REJECTED, "bb")  # not a found block
    found(node, 900_150, NOW - 30, BlockStatus.ACCEPTED, "cc")
    # yesterday: 250 / 1000 = 0.25 expected, 1 found: 4; today: half a day at 1000 and half
    # at 2000, so 100 * (0.5 / 1000 + 0.5 / 2000) = 0.075 expected, 1 found: 13.3333.
    # The day before has neither work nor a difficulty: left out.
    answer = get(node, "/public/pool/lucky/", start=20231112, end=20231114)
    assert answer == {"20231113": "4.0000", "20231114": "13.3333"}
    assert get(node, "/public/pool/lucky", start=20231113) == answer  # end: today
    assert get(node, "/public/pool/lucky", start=20231114, end=20231114) == {"20231114": "13.3333"}
    example = {"20150117": "8.6174"}  # day: luck
    assert set(shape(answer).values()) == set(shape(example).values())


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/public/pool/block/", {"page": "x"}, "page"),
        ("/public/pool/block/", {"page": "0"}, "page"),
        ("/public/pool/share/", {"dimension": "1d", "start_ts": -3600, "count": 1}, "dimension"),
        ("/public/pool/share/", {"dimension": "5m", "count": 1}, "start_ts"),
        ("/public/pool/share/", {"dimension": "5m", "start_ts": -3600, "count": 0}, "count"),
        ("/public/pool/lucky/", {}, "start"),
        ("/public/pool/lucky/", {"start": "20231341"}, "start"),
        ("/public/pool/lucky/", {"start": "2023-11-14"}, "start"),
        ("/public/pool/lucky/", {"start": "20231114", "end": "20231113"}, "end"),
        ("/public/pool/lucky/", {"start": "20221113", "end": "20231114"}, "end"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    node: Node, path: str, params: dict[str, Any], field: str
) -> None:
    response = node.client.get(path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errorCode"] == "INVALID_ARGUMENT"
    assert body["errorMsg"].startswith(f"{field}:"), body
