"""Damaged files lose nothing that is intact, and never silently: real ``poolstats serve``
processes on folders whose journal or database was damaged, emptied or swapped."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from poolstats.ingest.journal_frames import HEADER_SIZE, PREFIX
from tests.nodes import DB, Node, create_user, run, shares, stored_counts, tree, wait_for

pytestmark = pytest.mark.slow
BATCH = 40  # shares per batch; batch i is worker "b<i>"


def _fed_and_killed(data: Path, batches: int, **node_args: object) -> None:
    """A node takes ``batches`` batches (each acknowledged: in the journal), then SIGKILL."""
    node = Node(data, **node_args)  # type: ignore[arg-type]
    now = time.time()
    for i in range(1, batches + 1):
        assert node.post(shares(f"b{i}", BATCH, now - 5)).status_code == 200
    node.kill()


def _records(segment: Path) -> dict[int, tuple[int, int]]:
    """seq -> (offset, size) in a journal segment, read by the test from the format."""
    data = segment.read_bytes()
    out, offset = {}, 0
    while offset < len(data):
        _, seq, _, length = PREFIX.unpack_from(data, offset)
        out[seq] = (offset, HEADER_SIZE + length)
        offset += HEADER_SIZE + length
    return out


def test_a_damaged_journal_record_costs_that_batch_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_user(data)
    # a long flush interval: the batches are in the journal only when the node is killed
    _fed_and_killed(data, 20, flush_interval=3600)
    (segment,) = sorted((data / "journal").glob("*.wal"))
    offset, size = _records(segment)[11]
    raw = bytearray(segment.read_bytes())
    for i in range(offset + 100, offset + 116):  # 16 bytes inside record 11's payload
        raw[i] ^= 0xFF
    segment.write_bytes(bytes(raw))

    node = Node(data)
    wait_for(lambda: len(stored_counts(data)) == 19, 30, "the replayed batches in the store")
    assert stored_counts(data) == {f"b{i}": BATCH for i in range(1, 21) if i != 11}
    assert node.metric("poolstats_journal_damaged_records_total") == 1
    kept = data / "journal" / "damaged" / f"{segment.stem}-{offset}.bin"
    assert kept.read_bytes() == bytes(raw[offset : offset + size])
    log = node.log()
    assert "ERROR" in log and segment.name in log and f"offset {offset}" in log
    assert "record seq 11 lost" in log
    node.stop()


def _journal_and_database(tmp_path: Path, name: str = "data") -> Path:
    data = tmp_path / name
    create_user(data)
    _fed_and_killed(data, 3, flush_interval=3600)
    return data


@pytest.mark.parametrize("damage", ["empty", "missing"])
def test_a_journal_without_its_database_is_refused_and_nothing_changes(
    tmp_path: Path, damage: str
) -> None:
    data = _journal_and_database(tmp_path)
    if damage == "empty":
        os.truncate(data / DB, 0)
    else:
        for suffix in ("", "-wal", "-shm"):
            (data / (DB + suffix)).unlink(missing_ok=True)
    before = tree(data)
    out = run("serve", "--data-dir", str(data), "--port", "1", "--ingest-token", "t")
    assert out.returncode == 2
    message = " ".join(out.stderr.split())
    assert f"{DB} is {'empty (0 bytes)' if damage == 'empty' else 'missing'}" in message
    assert "a journal with records" in message
    assert "poolstats restore" in message and "--start-fresh" in message
    assert tree(data) == before


def test_start_fresh_moves_the_old_files_aside_and_starts(tmp_path: Path) -> None:
    data = _journal_and_database(tmp_path)
    os.truncate(data / DB, 0)
    old_journal = tree(data / "journal")
    old_id = (data / "poolstats.id").read_text()
    node = Node(data, "--start-fresh")
    assert node.health().json()["journal_seq"] == 0  # nothing replayed: a new folder
    (aside,) = data.glob("set-aside-*")
    assert (aside / DB).stat().st_size == 0
    assert tree(aside / "journal") == old_journal
    assert (aside / "poolstats.id").read_text() == old_id
    assert (data / "poolstats.id").read_text() != old_id
    assert "moved to" in node.log() and str(aside) in node.log()
    node.stop()
    again = Node(data, "--start-fresh")  # on a folder that is fine, the flag does nothing
    again.stop()
    assert len(list(data.glob("set-aside-*"))) == 1


def test_a_database_from_another_data_folder_is_refused(tmp_path: Path) -> None:
    data = _journal_and_database(tmp_path, "data")
    other = _journal_and_database(tmp_path, "other")
    for suffix in ("", "-wal", "-shm"):
        (data / (DB + suffix)).unlink(missing_ok=True)
    for suffix in ("", "-wal"):
        if (other / (DB + suffix)).exists():
            shutil.copy(other / (DB + suffix), data / (DB + suffix))
    before = tree(data)
    out = run("serve", "--data-dir", str(data), "--port", "1", "--ingest-token", "t")
    assert out.returncode == 2
    message = " ".join(out.stderr.split())
    assert "not the one this folder's journal and checkpoint were written with" in message
    assert (other / "poolstats.id").read_text().strip() in message
    # the database was only read (SQLite's read-only connection may add its -shm index)
    assert {k: v for k, v in tree(data).items() if not k.endswith("-shm")} == before


def test_start_fresh_on_a_running_nodes_folder_is_refused_and_moves_nothing(
    tmp_path: Path,
) -> None:
    """A second ``serve --start-fresh`` on a folder whose node runs, with an id file that
    does not match (so the flag would set the files aside), is refused by the journal's lock
    before anything is moved: the running node keeps its files and its batches."""
    data = tmp_path / "data"
    create_user(data)
    now = time.time()
    with Node(data) as node:
        assert node.post(shares("b1", BATCH, now - 5)).status_code == 200
        wait_for(lambda: stored_counts(data) == {"b1": BATCH}, 30, "batch 1 in the store")
        (data / "poolstats.id").write_text("another-folder\n")
        names = sorted(str(p.relative_to(data)) for p in data.rglob("*"))
        out = run(
            "serve", "--start-fresh", "--data-dir", str(data), "--port", "1", "--ingest-token", "t"
        )
        assert out.returncode != 0
        assert "in use by another poolstats process" in " ".join(out.stderr.split())
        assert sorted(str(p.relative_to(data)) for p in data.rglob("*")) == names
        assert not list(data.glob("set-aside-*"))
        assert node.post(shares("b2", BATCH, now - 5)).status_code == 200
        wait_for(lambda: len(stored_counts(data)) == 2, 30, "batch 2 in the store")
    assert stored_counts(data) == {"b1": BATCH, "b2": BATCH}
