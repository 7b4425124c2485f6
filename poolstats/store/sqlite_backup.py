"""The database as a file: a consistent copy of a live one, and checking a copy.

SQLite's online backup API copies the pages of one read transaction, so the copy is the
database as of one moment even while the node's flushes commit (WAL mode: the reader does
not block them, nor they it). Reading through a ``mode=ro`` connection: the backup changes
nothing of the source.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from poolstats.store import schema
from poolstats.store.sqlite import BUSY_TIMEOUT_MS


@dataclass(frozen=True)
class DatabaseFacts:
    history_seq: int  # the newest journal seq whose history the database holds
    data_id: str | None


def _facts(db: sqlite3.Connection) -> DatabaseFacts:
    rows = dict(
        db.execute(
            "SELECT key, value FROM meta WHERE key IN (?, ?)",
            (schema.HISTORY_SEQ_KEY, schema.DATA_ID_KEY),
        ).fetchall()
    )
    return DatabaseFacts(int(rows.get(schema.HISTORY_SEQ_KEY, 0)), rows.get(schema.DATA_ID_KEY))


def backup_database(source: Path, target: Path) -> DatabaseFacts:
    """Copy the database ``source`` to the new file ``target`` (synced); the copy's facts."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: all in one step, one read transaction
            facts = _facts(dst)
        finally:
            dst.close()
    finally:
        src.close()
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return facts


def check_database(path: Path) -> DatabaseFacts:
    """The facts of a database copy after SQLite's own check of it; ValueError when damaged."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise ValueError(f"{path}: SQLite finds it damaged: {verdict}")
            return _facts(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path}: not a readable database ({exc})") from exc
