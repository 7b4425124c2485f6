"""Which data folder a command may use: one that holds a store already, or one it may create.

Only ``poolstats init``, ``serve`` and ``demo`` create a data folder and its database. Every
other command reads or changes a store made before, so a mistyped ``--data-dir`` (or the
default one on a new machine) stops it with one line instead of creating an empty database
and answering as if nothing were there. Each problem is a ``DataDirError`` whose text is
that line: the CLI prints it as it is.
"""

from __future__ import annotations

from pathlib import Path

from poolstats.store.sqlite import SqliteStore


class DataDirError(ValueError):
    """The data folder cannot be used as asked; the message names it and says what to do."""


def existing(folder: Path) -> Path:
    """``folder`` if it holds a poolstats database; else ``DataDirError``. Creates nothing."""
    _not_a_file(folder)
    if not folder.exists():
        raise DataDirError(f"--data-dir {folder}: no such folder; {_HOW_TO_CREATE.format(folder)}")
    if not SqliteStore.exists(folder):
        raise DataDirError(
            f"--data-dir {folder}: no poolstats database in this folder; "
            + _HOW_TO_CREATE.format(folder)
        )
    return folder


def creatable(folder: Path) -> Path:
    """``folder``, made if missing (with its parents); ``DataDirError`` when it is a file or
    cannot be made."""
    _not_a_file(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"--data-dir {folder}: cannot create it ({exc.strerror})") from None
    return folder


_HOW_TO_CREATE = "create one with `poolstats init --data-dir {0}` (or start `poolstats serve`)"


def _not_a_file(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise DataDirError(f"--data-dir {folder}: is a file, not a folder")
    for parent in folder.parents:  # a file further up: mkdir and open fail with ENOTDIR
        if parent.exists():
            if not parent.is_dir():
                raise DataDirError(f"--data-dir {folder}: {parent} is a file, not a folder")
            break
