"""``poolstats backup`` of a running node and ``poolstats restore``: the restored node answers
exactly as the original did at the backup's moment.

Shares are time-stamped in one closed hour three hours ago, so every figure
compared is independent of the clock over the test's minutes: they are out of the 1m-1h
windows and in the 1d window (hourly slots, which a 3-hour-old share leaves only after a
day), their workers are INACTIVE (between 15 minutes and 24 hours), and their history
buckets are closed.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from poolstats.ingest.journal import segment_name
from tests.nodes import DB, Node, create_user, run, shares, stored_counts, tree, wait_for

pytestmark = pytest.mark.slow
BATCH = 30
HOUR = int(time.time() // 3600) * 3600 - 3 * 3600  # every share in this closed hour
TS = HOUR + 60


def _answers(node: Node, key: str) -> dict[str, Any]:
    """The API answers the test compares: worker list, one worker's share history, the
    sub-account's stats and the pool's."""
    workers = node.get("/v1/worker", access_key=key, page_size=100)
    return {
        "workers": workers,
        "stats": node.get("/v1/worker/stats", access_key=key),
        "history": node.get(
            "/v1/worker/share-history",
            access_key=key,
            dimension="1h",
            start_ts=HOUR - 3600,
            count=4,
        ),
        "pool": node.get("/public/v1/pool/stats"),
        "health_seq": node.health().json()["journal_seq"],
    }


def test_a_restored_backup_answers_as_the_original_did(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create_user(data)["access_key"]
    # 1. batches 1-10 reach the store and a checkpoint (1 s interval), then the node dies
    first = Node(data, settings={"checkpoint_interval_s": 1})
    for i in range(1, 11):
        assert first.post(shares(f"b{i}", BATCH, TS + i)).status_code == 200
    wait_for(lambda: len(stored_counts(data)) == 10, 30, "batches 1-10 in the store")
    wait_for(lambda: (data / "engine.checkpoint.npz").exists(), 30, "a checkpoint")
    first.kill()
    # 2. the running original: batches 11-20 are acknowledged but only in its journal
    original = Node(data, flush_interval=3600)
    wait_for(lambda: original.health().json()["last_flush"] > 0, 30, "the start-up flush")
    for i in range(11, 21):
        assert original.post(shares(f"b{i}", BATCH, TS + i)).status_code == 200
    out = run("backup", str(tmp_path / "backup"), "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    manifest = json.loads(out.stdout)
    assert manifest["database"]["history_seq"] == 10  # the database has batches 1-10 ...
    assert manifest["journal"]["last_seq"] == 20  # ... the journal copy the rest
    assert manifest["checkpoint"]["seq"] <= 10
    assert manifest["journal"]["first_seq"] == manifest["checkpoint"]["seq"] + 1
    assert len(stored_counts(data)) == 10
    # the original's answers at the backup's moment: nothing was ingested since, so it is
    # the original once its journal is in the store (a restart replays and flushes it)
    original.kill()
    original = Node(data)
    wait_for(lambda: len(stored_counts(data)) == 20, 30, "batches 11-20 in the store")
    expected = _answers(original, key)
    assert len(expected["workers"]["data"]["data"]) == 20
    assert expected["stats"]["data"]["workers_inactive"] == 20
    (hour,) = [t for t in expected["history"]["data"]["tickers"] if t[1] is not None]
    hashrate_g = 20 * BATCH * 1024 * 2**32 / 3600 / 1e9  # the 20 batches' work in that hour
    assert hour[0] == str(HOUR) and abs(float(hour[1]) - hashrate_g) < 0.05

    restored_dir = tmp_path / "restored"
    out = run("restore", str(tmp_path / "backup"), "--data-dir", str(restored_dir))
    assert out.returncode == 0, out.stderr
    restored = Node(restored_dir)
    wait_for(lambda: len(stored_counts(restored_dir)) == 20, 30, "the restored node's flush")
    assert _answers(restored, key) == expected
    assert stored_counts(restored_dir) == {f"b{i}": BATCH for i in range(1, 21)}
    restored.stop()
    original.stop()


def test_restore_refuses_a_damaged_or_incomplete_backup_and_a_used_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_user(data)
    node = Node(data)
    assert node.post(shares("w", BATCH, TS)).status_code == 200
    backup = tmp_path / "backup"
    assert run("backup", str(backup), "--data-dir", str(data)).returncode == 0
    node.stop()
    pristine = tree(backup)
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("mine")
    out = run("restore", str(backup), "--data-dir", str(used))
    assert out.returncode == 1 and "not an empty folder" in out.stderr
    assert tree(used) == {"x": b"mine"}
    assert run("backup", str(backup), "--data-dir", str(data)).returncode == 1  # not empty

    cases = {
        "flipped": lambda: _flip(backup / DB, 200),
        "no manifest": lambda: (backup / "manifest.json").unlink(),
        "no segment": lambda: next((backup / "journal").glob("*.wal")).unlink(),
    }
    for name, damage in cases.items():
        damage()
        target = tmp_path / name.replace(" ", "-")
        out = run("restore", str(backup), "--data-dir", str(target))
        assert out.returncode == 1, name
        assert not target.exists() and not list(tmp_path.glob(".*restoring*")), name
        for rel, content in pristine.items():  # put the backup back as it was
            (backup / rel).write_bytes(content)
    out = run("restore", str(backup), "--data-dir", str(tmp_path / "good"))
    assert out.returncode == 0, out.stderr


def _flip(path: Path, at: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_backups_taken_while_checkpoints_delete_segments_are_whole(tmp_path: Path) -> None:
    """The race of the backup module's docstring, provoked: 2 KiB segments, a checkpoint
    (which deletes old segments) every 0.1 s, batches posted all along. Each backup, restored,
    holds every batch up to its journal's last seq exactly once (one batch = one record)."""
    data = tmp_path / "data"
    create_user(data)
    settings = {"journal_segment_bytes": 2048, "checkpoint_interval_s": 0.1}
    node = Node(data, settings=settings, flush_interval=0.05)
    stop = threading.Event()
    posted: list[int] = []

    def feed() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            assert node.post(shares(f"b{i}", BATCH, TS)).status_code == 200
            posted.append(i)

    feeder = threading.Thread(target=feed)
    feeder.start()
    manifests = []
    try:
        for n in range(3):
            wait_for(lambda n=n: len(posted) >= 20 * (n + 1), 60, "more batches")
            out = run("backup", str(tmp_path / f"backup{n}"), "--data-dir", str(data))
            assert out.returncode == 0, out.stderr
            manifests.append(json.loads(out.stdout))
    finally:
        stop.set()
        feeder.join(60)
    node.stop()
    assert manifests[-1]["journal"]["first_seq"] > 1  # checkpoints moved on meanwhile
    for n, manifest in enumerate(manifests):
        last = manifest["journal"]["last_seq"]
        assert last >= 20 * (n + 1)
        restored_dir = tmp_path / f"restored{n}"
        out = run("restore", str(tmp_path / f"backup{n}"), "--data-dir", str(restored_dir))
        assert out.returncode == 0, out.stderr
        restored = Node(restored_dir)
        wait_for(lambda d=restored_dir, k=last: len(stored_counts(d)) == k, 30, "the flush")
        restored.stop()
        assert stored_counts(restored_dir) == {f"b{i}": BATCH for i in range(1, last + 1)}


def test_a_first_checkpoint_saved_during_the_database_copy_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No checkpoint when the backup starts; right after its database copy (history up to
    seq 10) the folder moves on to a first checkpoint at seq 20 that deleted the segments
    holding 11..19. That copy is not used with a journal starting after 11: the backup tries
    again, and the restored node holds every batch."""
    from poolstats.store import backup as backup_module

    data, later = tmp_path / "data", tmp_path / "later"
    create_user(data)
    settings = {"journal_segment_bytes": 2048}
    node = Node(data, settings=settings)
    for i in range(1, 11):
        assert node.post(shares(f"b{i}", BATCH, TS)).status_code == 200
    wait_for(lambda: len(stored_counts(data)) == 10, 30, "batches 1-10 in the store")
    node.kill()  # no final checkpoint
    assert not (data / "engine.checkpoint.npz").exists()
    # the same folder a little later: batches 11-20 and a checkpoint that deleted segments
    shutil.copytree(data, later)
    node = Node(later, settings={**settings, "checkpoint_interval_s": 0.1})
    for i in range(11, 21):
        assert node.post(shares(f"b{i}", BATCH, TS)).status_code == 200
    wait_for(lambda: len(stored_counts(later)) == 20, 30, "batches 11-20 in the store")
    wait_for(
        lambda: min(p.name for p in (later / "journal").glob("*.wal")) > segment_name(11),
        30,
        "a checkpoint deleting the segments of seqs 11..",
    )
    node.kill()

    real_copy = backup_module.backup_database
    calls = []

    def copy_then_move_on(src: Path, dst: Path) -> Any:
        facts = real_copy(src, dst)
        if not calls:  # the node moves on while the first attempt copies
            shutil.rmtree(data)
            shutil.copytree(later, data)
        calls.append(facts.history_seq)
        return facts

    monkeypatch.setattr(backup_module, "backup_database", copy_then_move_on)
    backup_module.backup(data, tmp_path / "backup")
    assert calls[0] == 10 and calls[-1] == 20
    restored = tmp_path / "restored"
    out = run("restore", str(tmp_path / "backup"), "--data-dir", str(restored))
    assert out.returncode == 0, out.stderr
    with Node(restored):
        wait_for(lambda: len(stored_counts(restored)) == 20, 30, "the flush")
    assert stored_counts(restored) == {f"b{i}": BATCH for i in range(1, 21)}
