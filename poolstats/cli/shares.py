"""``poolstats ingest`` and ``blocks``: share files into a node (posted to a running server,
or straight into a data folder), and the blocks the pool's shares found."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from poolstats.cli.common import (
    DataDir,
    StoreUrl,
    Token,
    console,
    existing_dir,
    fail,
    load_settings,
    open_service,
    open_store,
)

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts fast
    import httpx

INGEST_CHUNK_LINES = 100_000


def _read_chunks(path: Path, lines: int) -> Iterator[tuple[bytes, int]]:
    """Chunks of whole lines and the compressed bytes consumed so far (for the progress bar)."""
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(open(path, "rb"))
        stream = stack.enter_context(gzip.open(raw)) if path.suffix == ".gz" else raw
        chunk: list[bytes] = []
        for line in stream:
            chunk.append(line)
            if len(chunk) >= lines:
                yield b"".join(chunk), raw.tell()
                chunk = []
        if chunk:
            yield b"".join(chunk), raw.tell()


def ingest(
    files: Annotated[list[Path], typer.Argument(help="NDJSON share files (.gz too).")],
    url: Annotated[
        str | None,
        typer.Option(
            help="Post to this running server instead of "
            "opening --data-dir (e.g. http://127.0.0.1:8080)"
        ),
    ] = None,
    ingest_token: Token = None,
    data_dir: DataDir = None,
) -> None:
    """Ingest share files, into a running server (--url) or straight into --data-dir."""
    import httpx

    from poolstats.ingest.pipeline import Format

    for path in files:  # all of them before any is sent: a typo costs nothing
        if not path.is_file():
            why = "is a folder" if path.is_dir() else "no such file"
            raise fail(FileNotFoundError(f"{path}: {why}"))
    settings = load_settings(data_dir=data_dir, ingest_token=ingest_token)
    with contextlib.ExitStack() as stack:
        send: Callable[[bytes], dict[str, Any]]
        if url:
            client = stack.enter_context(httpx.Client(timeout=120))
            send = functools.partial(_post, client, url, settings.ingest_token)
        else:
            existing_dir(settings.data_dir)
            service = open_service(settings)
            stack.callback(service.close)
            send = lambda body: service.ingestor.ingest(body, Format.NDJSON).as_json()  # noqa: E731
        accepted, refused = _ingest_files(files, send)
    print(json.dumps({"accepted": accepted, "refused": refused}))


def _ingest_files(files: list[Path], send: Callable[[bytes], dict[str, Any]]) -> tuple[int, int]:
    """Send the files in chunks with a progress bar; returns (accepted, refused): refused
    are the lines the service did not take, not the pool's rejected shares."""
    from poolstats.ingest.answers import refused_count

    accepted = refused = done = 0
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("ingest", total=sum(f.stat().st_size for f in files))
        for path in files:
            progress.update(task, description=path.name)
            for body, position in _read_chunks(path, INGEST_CHUNK_LINES):
                answer = send(body)
                accepted += answer["accepted"]
                refused += refused_count(answer)
                for error in answer["errors"][:5]:
                    console.print(f"[yellow]{path.name}: {error['error']}")
                progress.update(task, completed=done + position)
            done += path.stat().st_size
    return accepted, refused


def _post(client: httpx.Client, url: str, token: str, body: bytes) -> dict[str, Any]:
    response = client.post(
        url.rstrip("/") + "/ingest/shares",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    if response.status_code != 200:
        console.print(f"[red]{response.status_code}: {response.text[:500]}")
        raise typer.Exit(1)
    answer: dict[str, Any] = response.json()
    return answer


def blocks(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest blocks")] = 50,
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
) -> None:
    """The blocks the pool found, newest first, as JSON lines: height, hash, finder (puid,
    worker), reward in satoshis, found_at (unix seconds), status and the node's reason."""
    from poolstats.store.blocks import BlockStore

    with open_store(data_dir, store_url) as store:
        _, found = BlockStore(store).page(0, limit)
    for block in found:
        print(json.dumps(dataclasses.asdict(block)))
