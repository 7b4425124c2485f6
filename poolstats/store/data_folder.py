"""The data folder: which one a command may use, what it holds, its id file, and setting it
aside on purpose.

Only ``poolstats init``, ``serve`` and ``demo`` create a data folder and its database
(``creatable``). Every other command reads or changes a store made before (``existing``), so
a mistyped ``--data-dir`` (or the default one on a new machine) stops it with one line
instead of creating an empty database and answering as if nothing were there.

``open_store`` is the one way a node opens its folder's database: it refuses a folder whose
database is missing, empty or another folder's (the rules: ``domain.data_folder``) before
anything on disk is touched, and with ``start_fresh`` moves the old files into a dated
folder first. Moved, never deleted: they may be all that is left of the pool's accounts.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from poolstats.domain.data_folder import Contents, refusal_after_open, refusal_before_open
from poolstats.ingest.journal import JournalLocked, fsync_dir, list_segments, lock_directory
from poolstats.store import checkpoint
from poolstats.store.sql import SqlStore
from poolstats.store.sqlite import DB_FILE, SqliteStore, peek_data_id

log = logging.getLogger(__name__)
ID_FILE = "poolstats.id"
JOURNAL_DIR = "journal"
SET_ASIDE_PREFIX = "set-aside-"
# every file a node keeps in its folder, as moved aside by --start-fresh
_NODE_FILES = (
    DB_FILE,
    DB_FILE + "-wal",
    DB_FILE + "-shm",
    JOURNAL_DIR,
    checkpoint.FILENAME,
    checkpoint.FILENAME + ".tmp",
    ID_FILE,
)


class DataFolderError(ValueError):
    """The data folder cannot be used as asked; the message names it and says what to do."""


def existing(folder: Path) -> Path:
    """``folder`` if it holds a poolstats database; else ``DataFolderError``. Creates nothing."""
    _not_a_file(folder)
    if not folder.exists():
        raise DataFolderError(
            f"--data-dir {folder}: no such folder; {_HOW_TO_CREATE.format(folder)}"
        )
    if not (folder / DB_FILE).is_file():
        raise DataFolderError(
            f"--data-dir {folder}: no poolstats database in this folder; "
            + _HOW_TO_CREATE.format(folder)
        )
    return folder


def holds_database(folder: Path) -> bool:
    """Whether ``folder`` holds a database file already (opening the store would make one)."""
    return (folder / DB_FILE).is_file()


def creatable(folder: Path) -> Path:
    """``folder``, made if missing (with its parents); ``DataFolderError`` when it is a file or
    cannot be made."""
    _not_a_file(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFolderError(f"--data-dir {folder}: cannot create it ({exc.strerror})") from None
    return folder


_HOW_TO_CREATE = "create one with `poolstats init --data-dir {0}` (or start `poolstats serve`)"


def _not_a_file(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise DataFolderError(f"--data-dir {folder}: is a file, not a folder")
    for parent in folder.parents:  # a file further up: mkdir and open fail with ENOTDIR
        if parent.exists():
            if not parent.is_dir():
                raise DataFolderError(f"--data-dir {folder}: {parent} is a file, not a folder")
            break


class DataFolderRefused(Exception):
    """The folder must not be served as it is; the message says why and what to do."""


def read_id(data_dir: Path) -> str | None:
    try:
        return (data_dir / ID_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def write_id(data_dir: Path, data_id: str) -> None:
    """Write the id file atomically (a torn one would refuse the next start)."""
    tmp = data_dir / (ID_FILE + ".tmp")
    with open(tmp, "w") as f:
        f.write(data_id + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, data_dir / ID_FILE)
    fsync_dir(data_dir)


def journal_has_records(journal_dir: Path) -> bool:
    """True when the journal holds a record or ever did (its newest segment is named past 1)."""
    if not journal_dir.is_dir():
        return False
    segments = list_segments(journal_dir)
    return bool(segments) and (
        segments[-1] > 1 or any((journal_dir / f"{s:020d}.wal").stat().st_size for s in segments)
    )


def inspect(data_dir: Path) -> Contents:
    db = data_dir / DB_FILE
    return Contents(
        data_dir=str(data_dir),
        db_name=DB_FILE,
        db_bytes=db.stat().st_size if db.exists() else None,
        folder_id=read_id(data_dir),
        journal_records=journal_has_records(data_dir / JOURNAL_DIR),
        checkpoint=(data_dir / checkpoint.FILENAME).exists(),
    )


def set_aside(data_dir: Path) -> Path:
    """Move the node's files into ``data_dir/set-aside-<UTC time>/``; returns that folder."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = data_dir / f"{SET_ASIDE_PREFIX}{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = data_dir / f"{SET_ASIDE_PREFIX}{stamp}-{n}"
    target.mkdir()
    for name in _NODE_FILES:
        if (data_dir / name).exists():
            os.replace(data_dir / name, target / name)
    fsync_dir(target)
    fsync_dir(data_dir)
    return target


class FolderLock:
    """The journal folder's lock (``journal/LOCK``, the one ``Journal`` holds), taken by a
    starting node before it inspects, sets aside or opens anything in its folder, and kept
    until its ``Journal`` takes it over: a second node refused by the journal only after
    those steps could already have moved or migrated a running node's files."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._fd = self._take()

    def _take(self) -> int:
        journal = self._data_dir / JOURNAL_DIR
        created = not journal.exists()
        journal.mkdir(exist_ok=True)
        if created:
            fsync_dir(self._data_dir)
        try:
            return lock_directory(journal)
        except JournalLocked:
            raise DataFolderRefused(
                f"{self._data_dir} is in use by another poolstats process (its journal's "
                f"lock is held); stop that process first"
            ) from None

    def retake(self) -> None:
        """After the journal folder (and its lock file) was set aside: lock the new one."""
        fd = self._take()
        os.close(self._fd)
        self._fd = fd

    def hand_over(self) -> int:
        """The locked fd, for ``Journal(lock_fd=...)``; this object no longer closes it."""
        fd, self._fd = self._fd, -1
        return fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def open_store(
    data_dir: Path,
    start_fresh: bool = False,
    lock: FolderLock | None = None,
    store_url: str = "",
) -> tuple[SqlStore, Path | None]:
    """The folder's store, checked against its journal; (store, where old files went).

    ``store_url`` empty: the SQLite file in the folder. A PostgreSQL URL: that database, and
    the folder holds only the journal, checkpoint and id file; its id must be the database's
    (a folder's journal is never replayed into another database), else refused, or with
    ``start_fresh`` those files are set aside (the database is never touched).

    Raises ``DataFolderRefused`` without having changed anything when the database is
    missing, empty or another folder's, unless ``start_fresh``. With ``start_fresh`` on a
    folder that is fine, nothing is moved: the flag cannot throw away a healthy folder.
    ``start_fresh`` needs the folder's ``lock`` (a node's start): nothing is moved from
    under a running node.
    """
    if start_fresh and lock is None:
        raise ValueError("start_fresh needs the folder's lock")
    if store_url:
        return _open_postgres(data_dir, start_fresh, lock, store_url)
    aside: Path | None = None
    contents = inspect(data_dir)
    problem = refusal_before_open(contents)
    if problem is not None:
        if not start_fresh:
            raise DataFolderRefused(problem)
        aside = _start_fresh(data_dir, problem, lock)
        contents = inspect(data_dir)
    elif contents.db_bytes and contents.folder_id is not None:  # before opening changes it
        peeked = peek_data_id(data_dir)
        problem = None if peeked is None else refusal_after_open(contents, peeked)
        if problem is not None:
            if not start_fresh:
                raise DataFolderRefused(problem)
            aside = _start_fresh(data_dir, problem, lock)
            contents = inspect(data_dir)
    store = SqliteStore.open(data_dir)
    try:
        db_id = store.data_id()
        problem = refusal_after_open(contents, db_id)
        if problem is not None:
            store.close()
            if not start_fresh:
                raise DataFolderRefused(problem)
            aside = _start_fresh(data_dir, problem, lock)
            store = SqliteStore.open(data_dir)
            db_id = store.data_id()
        if read_id(data_dir) != db_id:
            write_id(data_dir, db_id)
    except BaseException:
        store.close()
        raise
    return store, aside


def _open_postgres(
    data_dir: Path, start_fresh: bool, lock: FolderLock | None, store_url: str
) -> tuple[SqlStore, Path | None]:
    from poolstats.store.postgres import PostgresStore

    aside: Path | None = None
    store = PostgresStore.open(store_url)
    try:
        db_id = store.data_id()
        problem = refusal_after_open(inspect(data_dir), db_id)
        if problem is not None:
            if not start_fresh:
                raise DataFolderRefused(problem)
            aside = _start_fresh(data_dir, problem, lock)
        if read_id(data_dir) != db_id:
            data_dir.mkdir(parents=True, exist_ok=True)
            write_id(data_dir, db_id)
    except BaseException:
        store.close()
        raise
    return store, aside


def _start_fresh(data_dir: Path, problem: str, lock: FolderLock | None) -> Path:
    aside = set_aside(data_dir)
    if lock is not None:
        lock.retake()
    log.warning("--start-fresh: the old files were moved to %s. Why: %s", aside, problem)
    return aside
