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
