"""``poolstats init``, ``backup`` and ``restore``: making a data folder, and copying one out
and back (the checks themselves are in ``store/data_folder.py`` and ``store/backup.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from poolstats.cli.common import (
    DataDir,
    StoreUrl,
    fail,
    load_settings,
    new_dir,
    open_database,
    open_folder,
)


def init(data_dir: DataDir = None, store_url: StoreUrl = None) -> None:
    """Create the data folder and its database (run it again: nothing changes). The commands
    that read or change a store need one; serve and demo create it too."""
    from poolstats.store.data_folder import holds_database

    folder = new_dir(data_dir)
    url = load_settings(store_url=store_url).store_url
    if url:
        with open_folder(folder, url):  # the schema made or brought to the newest
            pass
        print(f"{folder} is the data folder of the PostgreSQL store")
        return
    existed = holds_database(folder)
    with open_folder(folder):  # creates the database, or brings it to the newest schema
        pass
    if existed:
        print(f"{folder} holds a poolstats database already: left as it was")
    else:
        print(f"created a poolstats database in {folder}")


def migrate(data_dir: DataDir = None, store_url: StoreUrl = None) -> None:
    """Bring the store's database to the newest schema and print its revision. Opening a
    store migrates it too; this does only that (e.g. before starting several nodes on one
    PostgreSQL database). Concurrent runs are safe: one migrates, the others wait."""
    import sqlalchemy as sa

    from poolstats.store.migration import revision

    settings = load_settings(data_dir=data_dir, store_url=store_url)
    folder = Path(settings.data_dir)
    if not settings.store_url:
        folder = new_dir(data_dir)
    with open_database(settings.store_url, folder) as store:
        try:
            with store.read() as conn:
                print(revision(conn))
        except sa.exc.SQLAlchemyError as exc:
            raise fail(exc) from exc


def backup(
    dest: Annotated[Path, typer.Argument(help="New (or empty) folder to write the backup to")],
    data_dir: DataDir = None,
) -> None:
    """Back up a data folder, also while its server runs: the database, the checkpoint and
    the journal the database does not hold yet, with a manifest. Prints the manifest."""
    from poolstats.store.backup import BackupError
    from poolstats.store.backup import backup as make_backup

    settings = load_settings(data_dir=data_dir)
    try:
        manifest = make_backup(Path(settings.data_dir), dest)
    except (BackupError, OSError, ValueError) as exc:
        raise fail(exc) from exc
    print(json.dumps(manifest, indent=2))


def restore(
    src: Annotated[Path, typer.Argument(help="A folder written by poolstats backup")],
    data_dir: DataDir = None,
) -> None:
    """Verify a backup and make a new (or empty) data folder of it; serve that folder then."""
    from poolstats.store.backup import BackupError
    from poolstats.store.backup import restore as restore_backup

    settings = load_settings(data_dir=data_dir)
    try:
        manifest = restore_backup(src, Path(settings.data_dir))
    except (BackupError, OSError, ValueError) as exc:
        raise fail(exc) from exc
    journal = manifest["journal"]
    print(
        json.dumps(
            {
                "data_dir": str(settings.data_dir),
                "history_seq": manifest["database"]["history_seq"],
                "journal_seqs": [journal["first_seq"], journal["last_seq"]],
            }
        )
    )
