"""``poolstats blocks``: the operator's list of found blocks, finders included."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from poolstats import cli
from poolstats.domain.found_block import BlockStatus, FoundBlock
from poolstats.store import SqliteStore
from poolstats.store.blocks import BlockStore

T = 1_700_000_000


def test_blocks_prints_the_newest_as_json_lines(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path) as store:
        blocks = BlockStore(store)
        blocks.record(FoundBlock(10, "aa" * 32, 1, "rig1", 5_000_000_000, T - 1), T)
        blocks.record(
            FoundBlock(
                11, "bb" * 32, 2, "rig2", 5_000_001_000, T, BlockStatus.REJECTED, "high-hash"
            ),
            T,
        )
    result = CliRunner().invoke(cli.app, ["blocks", "--limit", "1", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"height": 11, "hash": "bb" * 32, "puid": 2, "worker": "rig2",
         "reward_sat": 5_000_001_000, "found_at": T, "status": "rejected", "reason": "high-hash"}
    ]  # fmt: skip
    every = CliRunner().invoke(cli.app, ["blocks", "--data-dir", str(tmp_path)])
    assert [json.loads(line)["height"] for line in every.stdout.splitlines()] == [11, 10]
