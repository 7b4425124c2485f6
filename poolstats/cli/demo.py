"""``poolstats simulate`` and ``demo``: a simulated fleet, posted to a running server or
served with a node of its own, so that the API, the dashboard and the metrics show live data.

The demo checks its ports before it makes anything, loads hours of past shares so the
charts have history, and removes its temporary data folder however it stops (Ctrl-C or
SIGTERM). With ``--via stratum`` CPU miners mine real shares through the node's stratum port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from poolstats.cli.common import (
    Host,
    Port,
    Token,
    console,
    fail,
    load_settings,
    new_dir,
    open_folder,
    open_node,
    open_store,
    start_logging,
)
from poolstats.cli.serve import run_loop, say_stratum
from poolstats.config import Settings

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts fast
    from poolstats.service import Service
    from poolstats.simulate.cpu_miners import CpuMiner
    from poolstats.simulate.fleet import Fleet
    from poolstats.store.base import NewUser
    from poolstats.store.sql import SqlStore

# The demo's network: difficulty, height (3.125 BTC subsidy) and fees per block of late 2026.
DEMO_NETWORK = ("149301312726683.5", 925_000, 2_500_000)
# `demo --via stratum`: CPU miners of a few KH/s each, so shares of 2**-20 (4,096 hashes)
# come every fraction of a second until vardiff raises each miner's difficulty to about one
# share per 10 s.
DEMO_MIN_DIFF = 2.0**-20
DEMO_CPU_WORKERS = 4  # per sub-account
DEMO_CPU_HASHRATE_HS = 150_000.0  # in all: a fraction of one core in Python


def _ensure_users(store: SqlStore, names: list[str]) -> tuple[dict[str, int], dict[str, NewUser]]:
    """Create the sub-accounts that do not exist yet; returns every puid, and the new users
    (their access keys can be shown only now)."""
    existing = store.subaccounts()
    created = {n: store.create_user(n, int(time.time())) for n in names if n not in existing}
    return {**existing, **{n: u.puid for n, u in created.items()}}, created


def simulate(
    url: Annotated[str, typer.Option(help="Server base URL, e.g. http://127.0.0.1:8080")],
    ingest_token: Token = None,
    users: Annotated[int, typer.Option(help="Sub-accounts (named sim0001, sim0002, ...)")] = 3,
    workers: Annotated[int, typer.Option(help="Workers per sub-account")] = 20,
    fmt: Annotated[str, typer.Option("--format", help="ndjson or columnar")] = "ndjson",
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run (default: forever)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the fleet")] = 1,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Create the sim sub-accounts in this data dir first (works while it serves)"
        ),
    ] = None,
) -> None:
    """Feed a server a realistic simulated fleet (Poisson shares, vardiff, rejects, churn)."""
    from poolstats.simulate.fleet import Fleet
    from poolstats.simulate.sender import run

    if fmt not in ("ndjson", "columnar"):
        raise typer.BadParameter("--format must be ndjson or columnar")
    names = [f"sim{i:04d}" for i in range(1, users + 1)]
    if data_dir is not None:
        with open_store(data_dir) as store:
            _ensure_users(store, names)
    settings = load_settings(ingest_token=ingest_token)
    fleet = Fleet(names, workers, seed=seed, start=time.time())
    console.print(
        f"simulating {len(fleet)} miners of {users} sub-accounts, "
        f"{fleet.expected_hashrate_hs() / 1e15:.2f} PH/s"
    )
    fmt_value: Literal["ndjson", "columnar"] = "columnar" if fmt == "columnar" else "ndjson"
    totals = asyncio.run(
        run(
            url.rstrip("/") + "/ingest/shares",
            settings.ingest_token,
            fleet,
            fmt=fmt_value,
            duration_s=duration,
        )
    )
    print(json.dumps({"accepted": totals.accepted, "refused": totals.refused}))


def demo(
    port: Port = None,
    host: Host = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the demo's data here (default: a new temporary folder)"),
    ] = None,
    users: Annotated[int, typer.Option(help="Simulated sub-accounts besides 'demo'")] = 2,
    workers: Annotated[int, typer.Option(help="Workers per sub-account")] = 25,
    backfill_hours: Annotated[
        float, typer.Option(help="Hours of past shares to load first, so charts have history")
    ] = 6.0,
    via: Annotated[
        Literal["ingest", "stratum"],
        typer.Option(
            help="How the fleet's shares arrive: 'ingest' (a simulated fleet of PH/s posted "
            "to /ingest/shares) or 'stratum' (CPU miners mining real shares through the "
            "stratum port; no backfill)"
        ),
    ] = "ingest",
    stratum_port: Annotated[
        int, typer.Option(help="Stratum port of the demo (with --via stratum)")
    ] = 3333,
) -> None:
    """Serve with a simulated fleet, so the API and metrics show live data."""
    start_logging()
    stratum = via == "stratum"
    settings = load_settings(
        host=host,
        port=port,
        stratum_port=stratum_port if stratum else None,
        stratum_min_diff=DEMO_MIN_DIFF if stratum else None,
    )
    # Before anything is made or printed: a key and a URL that lead to another server, or a
    # folder left behind by a demo that could not start, help nobody.
    check_port(settings.host, settings.port, "PORT={} make demo", "poolstats demo --port {}")
    if stratum:
        check_port(
            settings.stratum_host,
            settings.stratum_port,
            "STRATUM_PORT={} make demo VIA=stratum",
            "poolstats demo --via stratum --stratum-port {}",
        )
    made = data_dir is None
    folder = new_dir(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="poolstats-demo-"))
    # SIGTERM ends the demo as Ctrl-C does (uvicorn, once it has shut down, raises the signal
    # again; with the default handler the process would die before removing its folder).
    signal.signal(signal.SIGTERM, _interrupt)
    settings = dataclasses.replace(
        settings, data_dir=folder, ingest_token=secrets.token_urlsafe(16)
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            _run_demo(settings, made, users, workers, backfill_hours, stratum)
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def check_port(host: str, port: int, make_hint: str, flag_hint: str) -> None:
    """Exit 1 with one line naming the port and another one to use, if ``port`` cannot be
    bound (as the server will bind it: SO_REUSEADDR, so a port in TIME_WAIT is free)."""
    try:
        _bind_test(host, port)
    except OSError as exc:
        other = next((p for p in range(port + 1, port + 50) if _bindable(host, p)), port + 1)
        raise fail(
            OSError(
                f"port {port} on {host} cannot be used ({exc.strerror or exc}): is another "
                f"server on it? Start the demo on another port: `{make_hint.format(other)}`, "
                f"or `{flag_hint.format(other)}`"
            )
        ) from None


def _bind_test(host: str, port: int) -> None:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)


def _bindable(host: str, port: int) -> bool:
    try:
        _bind_test(host, port)
    except OSError:
        return False
    return True


def _run_demo(
    settings: Settings, made: bool, users: int, workers: int, backfill_hours: float, stratum: bool
) -> None:
    from poolstats.simulate.fleet import Fleet
    from poolstats.simulate.sender import run

    folder, token = settings.data_dir, settings.ingest_token
    names = ["demo"] + [f"sim{i:04d}" for i in range(1, users + 1)]
    with open_folder(folder) as store:  # the data folder's checks, as the node's start
        puids, created = _ensure_users(store, names)
    demo_user = created.get("demo")
    from poolstats.node import DEMO

    node = open_node(settings, dataclasses.replace(DEMO, stratum=stratum))
    service = node.recovered_service
    base = f"http://{settings.host}:{settings.port}"
    start = time.time() - backfill_hours * 3600
    if service.store.network_at(int(start)) is None:  # so that earnings show at once
        service.store.record_network(int(start), *DEMO_NETWORK, "cli", int(time.time()))
        service.refresh_network()
    fleet = Fleet(names, workers, seed=int(time.time()), start=start)
    if not stratum and backfill_hours > 0:
        with console.status(f"loading {backfill_hours:g} hours of the fleet's past shares"):
            _backfill(service, fleet, time.time())
    miners = _demo_miners(settings, names, min(workers, DEMO_CPU_WORKERS)) if stratum else []
    table = Table(title="poolstats demo", show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # keys and URLs whole, to copy, however narrow
    table.add_row("API", base + " (docs: /docs)")
    table.add_row(
        "data dir",
        f"{folder} (temporary: removed when the demo stops)" if made else f"{folder} (kept)",
    )
    table.add_row("ingest token", token)
    table.add_row("demo puid", str(puids["demo"]))
    if demo_user is not None:
        table.add_row("demo access_key", demo_user.access_key)
        table.add_row("dashboard", f"{base}/#/key/{demo_user.access_key}")
    if stratum:
        hashrate = sum(m.hashrate_hs for m in miners)
        table.add_row("stratum", f"stratum+tcp://{settings.stratum_host}:{settings.stratum_port}")
        table.add_row("fleet", f"{len(miners)} CPU miners, {hashrate / 1e3:.0f} KH/s in all")
    else:
        table.add_row(
            "fleet", f"{len(fleet)} miners, {fleet.expected_hashrate_hs() / 1e15:.2f} PH/s"
        )
    Console().print(table)
    if demo_user is not None:
        print(
            json.dumps(
                {"puid": demo_user.puid, "user_name": "demo", "access_key": demo_user.access_key}
            ),
            flush=True,
        )
        # On a line of its own as well: a table cell may break it where a terminal is narrow.
        print(f"dashboard: {base}/#/key/{demo_user.access_key}", flush=True)
    if stratum:
        from poolstats.simulate.cpu_miners import run_miners

        say_stratum(settings)
        node.extra.append(run_miners(miners))
    else:  # from where the backfill ended: the fleet's time
        node.extra.append(
            run(base + "/ingest/shares", token, fleet, fmt="columnar", interval_s=2.0)
        )
    run_loop(node.run())


DEMO_BACKFILL_STEP_S = 900.0  # of share time per ingested batch: memory stays bounded


def _backfill(service: Service, fleet: Fleet, until: float) -> int:
    """The fleet's shares up to ``until``, straight into the service (journaled as any batch)
    and flushed, before the server and its timers start: the first settlement after midnight
    then counts yesterday's backfilled shares, as it would a real pool's."""
    from poolstats.ingest.pipeline import Format

    accepted = 0
    while fleet.time < until:
        shares = fleet.advance(min(until, fleet.time + DEMO_BACKFILL_STEP_S))
        if len(shares):
            accepted += service.ingestor.ingest(shares.to_columnar(), Format.COLUMNAR).accepted
    service.flush()
    return accepted


def _demo_miners(settings: Settings, names: list[str], per_user: int) -> list[CpuMiner]:
    """A few CPU miners per sub-account, of different speeds (DEMO_CPU_HASHRATE_HS in all)."""
    from poolstats.simulate.cpu_miners import CpuMiner

    logins = [f"{name}.cpu{i:02d}" for name in names for i in range(1, per_user + 1)]
    weights = [1 + (i % 4) for i in range(len(logins))]
    return [
        CpuMiner(
            settings.stratum_host,
            settings.stratum_port,
            login,
            DEMO_CPU_HASHRATE_HS * w / sum(weights),
        )
        for login, w in zip(logins, weights, strict=True)
    ]
