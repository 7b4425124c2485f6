"""When a data folder may be served: the database must be the one its journal was written with.

A data folder holds the database, the journal, the engine checkpoint and a copy of the
database's id (``poolstats.id``). Opening the store creates a database where none is, which
is right for a new folder and a disaster for one whose database went missing or was
emptied: every access key would be gone, and the journal would replay shares of
sub-accounts that no longer exist. So a start is refused when the folder shows it has had
a database (a journal with records, a checkpoint, an id file) but the database is missing,
empty, or carries another id, and the message says how to restore or to start fresh.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Contents:
    data_dir: str
    db_name: str
    db_bytes: int | None  # None: no database file
    folder_id: str | None  # the id file beside the journal, None when there is none
    journal_records: bool  # the journal holds (or held) records
    checkpoint: bool


def _remedy(data_dir: str) -> str:
    return (
        f"To restore from a backup: poolstats restore BACKUP --data-dir NEW_FOLDER, then serve "
        f"NEW_FOLDER. To start fresh on purpose: poolstats serve --data-dir {data_dir} "
        "--start-fresh, which moves the old journal, checkpoint and database into a dated "
        "set-aside folder inside the data folder (nothing is deleted)."
    )


def _evidence(c: Contents) -> str:
    held = []
    if c.journal_records:
        held.append("a journal with records")
    if c.checkpoint:
        held.append("an engine checkpoint")
    if c.folder_id is not None:
        held.append(f"the id of its database ({c.folder_id})")
    return ", ".join(held)


def refusal_before_open(c: Contents) -> str | None:
    """Why the folder must not be opened (its database would be created anew), or None."""
    if c.db_bytes:
        return None
    evidence = _evidence(c)
    if not evidence:
        return None  # a new folder (or one that never held more than an empty database)
    state = "missing" if c.db_bytes is None else "empty (0 bytes)"
    return (
        f"{c.data_dir}: the database {c.db_name} is {state}, but the folder holds "
        f"{evidence}: starting would make a new database, losing every account, access key "
        f"and the history, and replay shares for sub-accounts that no longer exist. "
        + _remedy(c.data_dir)
    )


def refusal_after_open(c: Contents, db_id: str) -> str | None:
    """Why the opened database does not belong with the folder's journal, or None."""
    if c.folder_id is None or c.folder_id == db_id:
        return None
    return (
        f"{c.data_dir}: the database {c.db_name} is not the one this folder's journal and "
        f"checkpoint were written with (its id is {db_id}, the folder's is {c.folder_id}): "
        "it was copied from another data folder or made anew. " + _remedy(c.data_dir)
    )


def refusal_behind_checkpoint(data_dir: str, history_seq: int, checkpoint_seq: int) -> str | None:
    """Why a database older than the checkpoint must not be served, or None.

    A checkpoint is saved only after the store holds history up to its seq (C <= N); a
    database behind it is an older copy of the folder's database put back: the journal
    before C is deleted, so history for the seqs between would be lost without a word.
    """
    if checkpoint_seq <= history_seq:
        return None
    return (
        f"{data_dir}: the engine checkpoint holds seq {checkpoint_seq} but the database's "
        f"history only reaches seq {history_seq}: the database is an older copy, and the "
        f"history of seqs {history_seq + 1}..{checkpoint_seq} would be lost. " + _remedy(data_dir)
    )
