"""``poolstats backup`` and ``poolstats restore``: a consistent copy of a running node's folder.

A backup holds the database, the engine checkpoint (seq C) and the journal segments from
the one holding seq C+1 on, plus ``manifest.json`` (what, which seqs, sizes and SHA-256).
Restored, it starts exactly as the node would have after a crash at the backup's moment:
load the checkpoint, replay seq > C, history for seq > the database's ``history_seq`` N.

Why the copy is consistent although the node keeps writing. It only reads (another process
holds the journal's lock), in this order:

1. the checkpoint file, read whole through one open file: the node replaces it with a
   rename, so the copy is one checkpoint, old or new, at seq C;
2. the database, by SQLite's online backup (one read transaction) at seq N. The node stores
   a flush before it saves a checkpoint, so N >= C;
3. the journal segments holding C+1 onwards, listed after step 2: every record <= N was
   journaled before step 2, so the copies reach seq L >= N. Opened files stay readable when
   deleted; the newest one is copied to the size it had, and a record caught mid-write at
   its end is cut from the copy (it was not acknowledged yet).

The race: while this runs the node may save a newer checkpoint C' and delete the segments
before C'+1 (``Journal.truncate_before``), some of which step 3 still needs. That shows as
a segment gone when opened, or the oldest segment starting after C+1; the attempt is
thrown away and made again from step 1 (the newer checkpoint then covers those records).
A node checkpoints once a minute, so a second attempt is rare and a fifth never needed.

A restore verifies everything against the manifest and the database's own check before it
writes anything, builds the folder beside the target, and moves it into place in one
rename: never half a restore. It refuses a target that is not empty.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from poolstats.engine.engine import Engine
from poolstats.ingest.journal import fsync_dir, list_segments, segment_name
from poolstats.ingest.journal_frames import Damage, Frame, JournalCorrupt, scan
from poolstats.store import checkpoint
from poolstats.store.data_folder import JOURNAL_DIR, write_id
from poolstats.store.sqlite import DB_FILE
from poolstats.store.sqlite_backup import backup_database, check_database

MANIFEST = "manifest.json"
FORMAT = "poolstats-backup/1"
ATTEMPTS = 5


class BackupError(Exception):
    """The backup or restore cannot be made; the message says why (nothing was left half)."""


class _Moved(Exception):
    """A checkpoint deleted journal segments this attempt needed: start again."""


@dataclass(frozen=True)
class _Journal:
    first: int  # the first seq a restore replays (C + 1)
    last: int
    damaged: list[Damage]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def _entry(root: Path, name: str, **extra: Any) -> dict[str, Any]:
    path = root / name
    return {"file": name, "bytes": path.stat().st_size, "sha256": _sha256(path), **extra}


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _empty_target(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path} exists and is not an empty folder: refusing to write into it")


def _scan_journal(folder: Path, start: int, cut_torn: bool) -> _Journal:
    """Check the copied segments hold every record from ``start`` on (damaged ones aside)."""
    segments = list_segments(folder)
    if not segments or segments[0] > start:
        raise _Moved
    last, damaged = start - 1, []
    for i, first in enumerate(segments):
        if i and first != last + 1:
            raise JournalCorrupt(f"{folder}: segment {segment_name(first)} follows seq {last}")
        path = folder / segment_name(first)
        end_seq = segments[i + 1] if i + 1 < len(segments) else None
        with open(path, "r+b" if cut_torn else "rb") as f:
            last = first - 1
            for item in scan(path, f, first, start, end_seq):
                if isinstance(item, Frame):
                    last = item.seq
                elif isinstance(item, Damage):
                    damaged.append(item)
                    last = item.last_lost
                elif cut_torn:
                    f.truncate(item.offset)
                else:
                    raise JournalCorrupt(f"{path}: bad bytes at offset {item.offset}")
    return _Journal(start, max(last, start - 1), damaged)


def _copy_prefix(src: BinaryIO, dst: BinaryIO, size: int) -> None:
    """Copy the first ``size`` bytes: what the segment held when opened, not what the
    node appends meanwhile."""
    while size > 0:
        block = src.read(min(size, 2**20))
        if not block:
            break
        dst.write(block)
        size -= len(block)


def _attempt(data_dir: Path, work: Path) -> dict[str, Any]:
    work.mkdir()
    (work / JOURNAL_DIR).mkdir()
    saved_seq: int | None = None
    try:  # 1. the checkpoint: one open file, whichever version it is
        with open(data_dir / checkpoint.FILENAME, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raw = None
    if raw is not None:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            saved_seq = Engine.saved_seq({"meta": data["meta"]})
        (work / checkpoint.FILENAME).write_bytes(raw)
        _fsync_file(work / checkpoint.FILENAME)
    # 2. the database, at seq N >= C
    facts = backup_database(data_dir / DB_FILE, work / DB_FILE)
    # 3. the segments from the one holding C+1 on
    journal = data_dir / JOURNAL_DIR
    segments = list_segments(journal)
    if not segments:
        raise BackupError(f"{journal}: no journal segment; is this a poolstats data folder?")
    start = segments[0] if saved_seq is None else saved_seq + 1
    # without a checkpoint, replay rebuilds history from N + 1 on: a first checkpoint saved
    # after the database copy may have deleted the segments holding N + 1.. (try again: the
    # next attempt reads that checkpoint)
    if segments[0] > start or (saved_seq is None and start > facts.history_seq + 1):
        raise _Moved
    for first in segments[max(0, bisect.bisect_right(segments, start) - 1) :]:
        name = segment_name(first)
        try:
            with open(journal / name, "rb") as src, open(work / JOURNAL_DIR / name, "wb") as dst:
                _copy_prefix(src, dst, os.fstat(src.fileno()).st_size)
        except FileNotFoundError:
            raise _Moved from None
    found = _scan_journal(work / JOURNAL_DIR, start, cut_torn=True)
    if found.last < facts.history_seq:
        raise BackupError(
            f"the journal copy ends at seq {found.last} but the database holds seq "
            f"{facts.history_seq}: the journal was replaced while the backup ran"
        )
    for path in (work / JOURNAL_DIR).iterdir():
        _fsync_file(path)
    return {
        "format": FORMAT,
        "created_at": int(time.time()),
        "data_id": facts.data_id,
        "database": _entry(work, DB_FILE, history_seq=facts.history_seq),
        "checkpoint": None
        if saved_seq is None
        else _entry(work, checkpoint.FILENAME, seq=saved_seq),
        "journal": {
            "first_seq": found.first,
            "last_seq": found.last,
            "segments": [
                _entry(work, f"{JOURNAL_DIR}/{p.name}")
                for p in sorted((work / JOURNAL_DIR).glob("*.wal"))
            ],
            "damaged_seqs": [[d.first_lost, d.last_lost] for d in found.damaged if d.lost],
        },
    }


def backup(data_dir: Path, dest: Path) -> dict[str, Any]:
    """Back up ``data_dir`` (its node may be running) into the new folder ``dest``."""
    _empty_target(dest)
    if not (data_dir / DB_FILE).is_file():
        raise BackupError(f"{data_dir}: no database {DB_FILE}: nothing to back up")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    for _ in range(ATTEMPTS):
        shutil.rmtree(work, ignore_errors=True)
        try:
            manifest = _attempt(data_dir, work)
        except _Moved:
            continue
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        _write_manifest(work, manifest)
        _move_into_place(work, dest)
        return manifest
    shutil.rmtree(work, ignore_errors=True)
    raise BackupError(f"the node's checkpoints kept moving the journal; {ATTEMPTS} attempts failed")


def _write_manifest(work: Path, manifest: dict[str, Any]) -> None:
    path = work / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    _fsync_file(path)
    fsync_dir(work / JOURNAL_DIR)
    fsync_dir(work)


def _move_into_place(work: Path, dest: Path) -> None:
    if dest.exists():
        dest.rmdir()  # empty (checked first)
    os.replace(work, dest)
    fsync_dir(dest.parent)


def _verify(src: Path) -> dict[str, Any]:
    """The manifest, once every file it lists is there with its size and checksum."""
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{src}: no {MANIFEST}: not a backup, or an incomplete one") from None
    except ValueError as exc:
        raise BackupError(f"{src}/{MANIFEST}: unreadable ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{src}/{MANIFEST}: format {manifest.get('format')!r}, not {FORMAT}")
    entries = [manifest["database"], *manifest["journal"]["segments"]]
    if manifest["checkpoint"] is not None:
        entries.append(manifest["checkpoint"])
    listed = {e["file"] for e in entries}
    present = {str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()} - {MANIFEST}
    if present - listed:
        raise BackupError(f"{src}: files the manifest does not list: {sorted(present - listed)}")
    for e in entries:
        path = src / e["file"]
        if not path.is_file():
            raise BackupError(f"{src}: {e['file']} is missing")
        if path.stat().st_size != e["bytes"] or _sha256(path) != e["sha256"]:
            raise BackupError(f"{src}: {e['file']} does not match its checksum: damaged")
    try:
        facts = check_database(src / DB_FILE)
    except ValueError as exc:
        raise BackupError(str(exc)) from exc
    db = manifest["database"]
    if (facts.history_seq, facts.data_id) != (db["history_seq"], manifest["data_id"]):
        raise BackupError(f"{src}: the database is not the one the manifest describes")
    journal = manifest["journal"]
    try:
        found = _scan_journal(src / JOURNAL_DIR, journal["first_seq"], cut_torn=False)
    except (_Moved, JournalCorrupt) as exc:
        raise BackupError(f"{src}: the journal copy is incomplete or damaged ({exc})") from exc
    if found.last != journal["last_seq"]:
        raise BackupError(f"{src}: the journal ends at seq {found.last}, not {journal['last_seq']}")
    return manifest


def restore(src: Path, data_dir: Path) -> dict[str, Any]:
    """Verify the backup ``src``, then make ``data_dir`` (new or empty) a copy of it."""
    _empty_target(data_dir)
    manifest = _verify(src)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    work = data_dir.parent / f".{data_dir.name}.restoring-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        (work / JOURNAL_DIR).mkdir(parents=True)
        for name in [manifest["database"]["file"]] + [
            e["file"] for e in manifest["journal"]["segments"]
        ]:
            shutil.copyfile(src / name, work / name)
            _fsync_file(work / name)
        if manifest["checkpoint"] is not None:
            name = manifest["checkpoint"]["file"]
            shutil.copyfile(src / name, work / name)
            _fsync_file(work / name)
        if manifest["data_id"]:
            write_id(work, manifest["data_id"])
        fsync_dir(work / JOURNAL_DIR)
        fsync_dir(work)
        _move_into_place(work, data_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest
