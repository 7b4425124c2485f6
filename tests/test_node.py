"""The node builder (``poolstats.node``): what it refuses, what it closes when a part cannot
start, and the order in which a running node stops (its tasks, then its last checkpoint)."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from poolstats.config import Settings
from poolstats.ingest.pipeline import Format
from poolstats.node import INGEST, SERVE, Node, Parts
from tests.nodes import INGEST_HEADERS, TOKEN, free_port, shares, stored_counts


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """The HTTP server freezes what exists and tunes the collector for its process; undone."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def with_alice(data_dir: Path) -> Settings:
    settings = Settings(data_dir=data_dir, ingest_token=TOKEN, host="127.0.0.1", port=free_port())
    node = Node(settings, INGEST).open()
    assert node.recovered_service.store.create_user("alice", int(time.time())).puid == 1
    node.close()
    return settings


def test_a_process_has_one_main_task_at_most() -> None:
    with pytest.raises(ValueError, match="one main task at most"):
        Node(Settings(), Parts(database=True, http=True, jobs=True))
    with pytest.raises(ValueError, match="needs the bus and database"):
        Node(Settings(), Parts(database=True, partition=0))


def test_a_part_that_refuses_closes_what_was_opened_before_it(tmp_path: Path) -> None:
    settings = with_alice(tmp_path)
    wrong = dataclasses.replace(settings, stratum_port=free_port(), stratum_min_diff=0.0)
    node = Node(wrong, SERVE)
    with pytest.raises(ValueError, match="stratum_min_diff"):
        node.open()  # after the node's folder was opened and recovered
    again = Node(settings, INGEST).open()  # the folder was let go of: not "in use"
    assert again.recovered_service.recovery is not None
    again.close()


def test_a_stopped_node_stops_its_tasks_then_writes_its_last_checkpoint(tmp_path: Path) -> None:
    settings = with_alice(tmp_path)
    node = Node(settings, SERVE).open()
    service = node.recovered_service
    late: list[int] = []

    async def producer() -> None:
        """Posts a batch, stops the node, and when cancelled (the node stopping its tasks)
        ingests one more batch straight into the journal: still open then."""
        url = f"http://{settings.host}:{settings.port}"
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=url) as client:
            while True:
                try:
                    await client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the node never answered"
                    await asyncio.sleep(0.05)
            answer = await client.post(
                "/ingest/shares", content=shares("rig1", 3, time.time()), headers=INGEST_HEADERS
            )
            assert answer.status_code == 200, answer.text
        node.stop()
        try:
            await asyncio.sleep(60)
        finally:
            body = shares("rig2", 2, time.time())
            late.append(service.ingestor.ingest(body, Format.NDJSON).accepted)

    node.extra.append(producer())
    asyncio.run(asyncio.wait_for(node.run(), 60))

    assert late == [2]  # the task was stopped before the journal was closed
    assert stored_counts(tmp_path) == {"rig1": 3, "rig2": 2}  # the last flush: after it
    reopened = Node(settings, INGEST).open()
    recovery = reopened.recovered_service.recovery
    assert recovery is not None and recovery.replayed_batches == 0  # the checkpoint held both
    reopened.close()
