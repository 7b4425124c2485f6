"""A batch retried with the same Idempotency-Key is answered as before and counted once,
also across a crash and a checkpoint."""

from __future__ import annotations

import threading
from pathlib import Path

from poolstats.clock import FakeClock
from poolstats.config import Settings
from poolstats.ingest.pipeline import Format
from poolstats.service import Service
from tests.api.conftest import ALICE, T0, Node, ndjson

GOOD = {"ts": T0 - 5, "puid": ALICE, "worker": "rig", "diff": 64, "accepted": True}
BAD = {"ts": T0 - 5, "puid": ALICE, "worker": "rig", "diff": -1, "accepted": True}


def test_a_retried_batch_is_answered_again_and_counted_once(node: Node) -> None:
    body = ndjson(GOOD, GOOD, BAD)
    first = node.post(body, headers={"Idempotency-Key": "batch-1"})
    again = node.post(body, headers={"Idempotency-Key": "batch-1"})
    assert first.json()["accepted"] == again.json()["accepted"] == 2
    assert first.json()["refused"] == again.json()["refused"] == 1
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert node.stored_workers(ALICE)["rig"]["accept_count"] == 2
    assert node.counter("poolstats_shares_accepted_total", format="ndjson") == 2
    other = node.post(body, headers={"Idempotency-Key": "batch-2"})  # a new key counts
    assert other.json()["accepted"] == 2
    assert node.stored_workers(ALICE)["rig"]["accept_count"] == 4


def test_a_bad_key_is_refused(node: Node) -> None:
    response = node.post(ndjson(GOOD), headers={"Idempotency-Key": "x" * 129})
    assert response.status_code == 400
    assert response.json()["errors"][0]["error"].startswith("Idempotency-Key:")


def test_keys_survive_a_crash_and_a_checkpoint(tmp_path: Path) -> None:
    clock = FakeClock(T0)

    def start() -> Service:
        service = Service(Settings(data_dir=tmp_path, ingest_token="t"), clock=clock)
        service.recover()
        return service

    service = start()
    service.store.create_user("alice", int(T0))
    body = ndjson(GOOD, GOOD, GOOD)
    assert service.ingestor.ingest(body, Format.NDJSON, "k1").accepted == 3
    service.checkpoint()  # k1's batch is now only in the checkpoint, not the journal
    assert service.ingestor.ingest(body, Format.NDJSON, "k2").accepted == 3
    service.journal.close()  # crash: k2's batch is only in the journal
    service.store.close()

    service = start()
    for key in ("k1", "k2"):
        result = service.ingestor.ingest(body, Format.NDJSON, key)
        assert (result.replayed, result.accepted) == (True, 3)
    service.flush()
    (worker,) = service.store.workers(1)
    assert worker["accept_count"] == 6
    service.close()


def test_concurrent_requests_with_one_key_count_once(node: Node) -> None:
    body = ndjson(*[GOOD] * 50)
    answers: list[int] = []

    def send() -> None:
        result = node.service.ingestor.ingest(body, Format.NDJSON, "same")
        answers.append(result.accepted)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [50, 50, 50, 50]
    assert node.stored_workers(ALICE)["rig"]["accept_count"] == 50


def test_a_journal_that_cannot_write_answers_503_and_counts_nothing(node: Node) -> None:
    node.service.journal.close()  # as after a failed fsync: every append now raises
    response = node.post(ndjson(GOOD, GOOD))
    assert response.status_code == 503
    assert response.json()["errors"][0]["error"].startswith("journal:")
    assert node.counter("poolstats_ingest_requests_refused_total", reason="journal") == 1
    assert node.service.engine.tracked_workers == 0
