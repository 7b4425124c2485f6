"""GET /v1/pool/blocks: public, newest first, in pages, in BTC.COM's envelope."""

from __future__ import annotations

from poolstats.domain.found_block import BlockStatus, FoundBlock
from poolstats.store.blocks import BlockStore
from tests.api.conftest import ALICE, BOB, T0, Node


def test_blocks_are_listed_newest_first_without_their_finders(node: Node) -> None:
    blocks = BlockStore(node.service.store)
    blocks.record(FoundBlock(900_000, "11" * 32, ALICE, "rig1", 312_600_000, int(T0) - 600,
                             BlockStatus.ACCEPTED), int(T0))  # fmt: skip
    blocks.record(FoundBlock(900_001, "22" * 32, BOB, "bobrig", 312_500_001, int(T0) - 60,
                             BlockStatus.REJECTED, "bad-cb-amount"), int(T0))  # fmt: skip
    blocks.record(FoundBlock(900_002, "33" * 32, ALICE, "rig2", 312_500_002, int(T0)), int(T0))
    page = node.data("/v1/pool/blocks", user="", page=1, page_size=2)
    assert page == {
        "page": 1,
        "page_size": 2,
        "page_count": 2,
        "total_count": 3,
        "list": [
            {"height": 900_002, "hash": "33" * 32, "reward": 312_500_002, "found_at": int(T0),
             "status": "submitted", "reason": ""},
            {"height": 900_001, "hash": "22" * 32, "reward": 312_500_001,
             "found_at": int(T0) - 60, "status": "rejected", "reason": "bad-cb-amount"},
        ],
    }  # fmt: skip
    last = node.data("/v1/pool/blocks/", user="", page=2, page_size=2)
    assert [(b["height"], b["hash"]) for b in last["list"]] == [(900_000, "11" * 32)]
    # the same with any key: it is public
    assert node.data("/v1/pool/blocks", user="bob", page=2, page_size=2) == last


def test_bad_paging_is_a_parameter_error_naming_it(node: Node) -> None:
    for params, field in (({"page_size": 0}, "page_size"), ({"page": "x"}, "page")):
        body = node.api("GET", "/v1/pool/blocks", user="", **params)
        assert body["err_no"] == 1 and body["err_msg"].startswith(field), body
        assert body["data"] is None


def test_openapi_documents_the_blocks_listing_as_public(node: Node) -> None:
    document = node.client.get("/openapi.json").json()
    operation = document["paths"]["/v1/pool/blocks"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"page", "page_size"}
    item = document["components"]["schemas"]["BlockItem"]
    assert set(item["properties"]) == {"height", "hash", "reward", "found_at", "status", "reason"}


DAY = int(T0) // 86400 * 86400  # the UTC day T0 falls in


def test_btccom_blocks_list_found_blocks_with_counts_hashrate_and_luck(node: Node) -> None:
    """GET /v1/blocks in BTC.COM's shape (its pool document); every figure worked by hand."""
    node.service.store.record_network(DAY - 86400, "1000", 840_000, 0, "cli", DAY - 86400)
    node.ingest(
        {"ts": int(T0) - 30, "puid": ALICE, "worker": "rig1", "diff": 1500, "status": "accept"},
        {"ts": int(T0) - 20, "puid": ALICE, "worker": "rig1", "diff": 1500, "status": "accept"},
        {"ts": int(T0) - 10, "puid": BOB, "worker": "bobrig", "diff": 1000, "status": "accept"},
        {"ts": int(T0) - 10, "puid": BOB, "worker": "bobrig", "diff": 500, "status": "reject"},
    )
    node.service.flush()
    blocks = BlockStore(node.service.store)
    old = DAY - 2 * 86400  # before the pool's kept work: listed, but not in the luck
    blocks.record(FoundBlock(899_000, "00" * 32, ALICE, "rig1", 625_000_000, old,
                             BlockStatus.ACCEPTED), old)  # fmt: skip
    blocks.record(FoundBlock(900_000, "11" * 32, ALICE, "rig1", 312_600_000, int(T0) - 600,
                             BlockStatus.ACCEPTED), int(T0))  # fmt: skip
    blocks.record(FoundBlock(900_001, "22" * 32, BOB, "bobrig", 312_500_001, int(T0) - 60,
                             BlockStatus.REJECTED, "bad-cb-amount"), int(T0))  # fmt: skip
    blocks.record(FoundBlock(900_002, "33" * 32, ALICE, "rig2", 312_500_002, int(T0)), int(T0))
    # 4,000 accepted today at difficulty 1,000: 4 blocks expected, 1 accepted today (the
    # rejected one is no block, the submitted one not yet; the old one's day has no kept
    # work); 15-minute hashrate 4000 * 2**32 / 900 = 19.09 GH/s
    assert node.data("/v1/blocks", user="", page=1, page_size=2) == {
        "page": 1,
        "page_size": 2,
        "page_count": 2,
        "total_count": "3",
        "blocks_count": "3",
        "rewards_count": str(625_000_000 + 312_600_000 + 312_500_002),
        "hashrate": 19.09,
        "hashrate_unit": "G",
        "luck": "0.2500",
        "miners_count": 2,
        "blocks": [
            {"height": 900_002, "created_at": int(T0), "hash": "33" * 32, "rewards": 312_500_002},
            {"height": 900_000, "created_at": int(T0) - 600, "hash": "11" * 32,
             "rewards": 312_600_000},
        ],
    }  # fmt: skip
    last = node.data("/v1/blocks/", user="", page=2, page_size=2)
    assert [b["height"] for b in last["blocks"]] == [899_000]


def test_btccom_blocks_luck_is_null_before_any_work_and_paging_is_checked(node: Node) -> None:
    empty = node.data("/v1/blocks", user="")
    assert empty["luck"] is None and empty["blocks"] == [] and empty["total_count"] == "0"
    assert (empty["hashrate"], empty["miners_count"], empty["rewards_count"]) == (0.0, 0, "0")
    body = node.api("GET", "/v1/blocks", user="", page_size=0)
    assert body["err_no"] == 1 and body["err_msg"].startswith("page_size"), body
