"""What the command modules share: the options several commands take (help and environment
variable from the declarations in ``config.py``), the console messages go to, the settings,
and the data folder, store and node a command opens.

A command that cannot go on prints why in one line and exits 1 (``fail``); a node that
cannot start on its folder exits 2 (``open_node``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from poolstats.config import Settings, default_text, described

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts fast
    from poolstats.node import Node, Parts
    from poolstats.service import Service
    from poolstats.store.sql import SqlStore

console = Console(stderr=True)
HELP = {  # a no-break space keeps "10 s" and "64 MiB" on one line of --help
    name: f"{text} Default: {default_text(name, default, unit).replace(' ', chr(0xA0))}."
    for name, _, default, unit, text in described()
}
ENV = {name: env for name, env, _, _, _ in described()}


def option(name: str, *flags: str) -> Any:
    return typer.Option(*flags, help=HELP[name], envvar=ENV[name], show_default=False)


DataDir = Annotated[Path | None, option("data_dir", "--data-dir")]
StoreUrl = Annotated[str | None, option("store_url", "--store-url")]
BusUrl = Annotated[str | None, option("bus_url", "--bus-url")]
Partitions = Annotated[int | None, option("partitions", "--partitions")]
Host = Annotated[str | None, option("host", "--host")]
Port = Annotated[int | None, option("port", "--port")]
Token = Annotated[str | None, option("ingest_token", "--ingest-token")]


def load_settings(**overrides: Any) -> Settings:
    return Settings.from_env(**overrides)


def fail(exc: Exception) -> typer.Exit:
    """Print why a store call refused, for ``raise fail(exc) from exc``: exit status 1.

    One line however narrow the terminal (a path or a command to copy stays whole), and the
    text as it is: a name or path with brackets is not read as markup."""
    console.print(str(exc), style="red", markup=False, soft_wrap=True)
    return typer.Exit(1)


def existing_dir(data_dir: Path | None) -> Path:
    """The data folder (--data-dir, else the environment's or the default) if it holds a
    store; else exit 1 with one line saying how to make one. Creates nothing."""
    from poolstats.store.data_folder import DataFolderError, existing

    try:
        return existing(load_settings(data_dir=data_dir).data_dir)
    except DataFolderError as exc:
        raise fail(exc) from exc


def new_dir(data_dir: Path | None) -> Path:
    """The data folder, made if missing, for the commands that create a store (init, serve,
    demo); exit 1 with one line when it is a file or cannot be made."""
    from poolstats.store.data_folder import DataFolderError, creatable

    try:
        return creatable(load_settings(data_dir=data_dir).data_dir)
    except DataFolderError as exc:
        raise fail(exc) from exc


def open_store(data_dir: Path | None, store_url: str | None = None) -> SqlStore:
    """The store every command that reads or changes one opens: the SQLite database of an
    existing data folder, or the PostgreSQL database of ``--store-url`` (checked against the
    data folder's id when that folder exists, as a node's start does)."""
    settings = load_settings(data_dir=data_dir, store_url=store_url)
    if settings.store_url:
        folder = Path(settings.data_dir)
        if not folder.is_dir():  # no node's folder to check the database against
            return open_database(settings.store_url, folder)
        return open_folder(folder, settings.store_url)
    return open_folder(existing_dir(data_dir))


def open_database(store_url: str, folder: Path) -> SqlStore:
    """The store at ``store_url`` alone, migrated; exit 1 with the reason it cannot be."""
    import sqlalchemy as sa

    from poolstats.store import open_store as open_configured

    try:
        return open_configured(store_url, folder)
    except (ValueError, sa.exc.OperationalError) as exc:
        raise fail(exc) from exc


def open_folder(folder: Path, store_url: str = "") -> SqlStore:
    """The folder's store, checked against its journal like a node's start (a database gone
    missing or another folder's is refused, not made anew); exit 1 with the reason."""
    import sqlalchemy as sa

    from poolstats.store import data_folder

    try:
        store, _ = data_folder.open_store(folder, store_url=store_url)
    except (data_folder.DataFolderRefused, ValueError, sa.exc.OperationalError) as exc:
        raise fail(exc) from exc
    return store


def start_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "httpx"):  # per-request lines: not what an operator reads
        logging.getLogger(noisy).setLevel(logging.WARNING)


def open_node(settings: Settings, parts: Parts, start_fresh: bool = False) -> Node:
    """The process ``parts`` make (``poolstats.node``), opened: a node's folder recovered, a
    cluster role's database open. Exit 2 when the folder cannot be served (in use, or its
    database missing, empty or another folder's: the message says what to do); exit 1 with
    the reason when a setting or the database refuses."""
    import sqlalchemy as sa

    from poolstats.ingest.journal import JournalError
    from poolstats.node import Node
    from poolstats.store.data_folder import DataFolderRefused

    node = Node(settings, parts, start_fresh=start_fresh, on_bus_wait=_bus_not_ready)
    try:
        node.open()
    except DataFolderRefused as exc:
        console.print(f"[red]refusing to start: {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except JournalError as exc:
        console.print(f"[red]{settings.data_dir} is in use by another poolstats process: {exc}")
        raise typer.Exit(2) from exc
    except (ValueError, sa.exc.OperationalError) as exc:
        raise fail(exc) from exc
    service = node.service
    if service is not None and service.set_aside is not None:
        console.print(
            f"[yellow]--start-fresh: the old database, journal and checkpoint were moved to "
            f"{service.set_aside}; starting with a new database",
            soft_wrap=True,
        )
    recovery = service.recovery if service is not None else None
    if recovery is not None and recovery.replayed_batches:
        console.print(
            f"recovered {recovery.replayed_shares} shares from {recovery.replayed_batches} "
            f"journaled batches in {recovery.seconds:.2f} s"
        )
    return node


def _bus_not_ready(exc: Exception) -> None:
    console.print(f"[yellow]share bus not ready ({exc}); trying again")


def open_service(settings: Settings, start_fresh: bool = False) -> Service:
    """The node on ``settings.data_dir``, recovered, running no task (``poolstats ingest``
    feeds it directly); exits as ``open_node`` does."""
    from poolstats.node import INGEST

    return open_node(settings, INGEST, start_fresh).recovered_service
