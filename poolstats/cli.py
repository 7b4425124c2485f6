"""The ``poolstats`` command: init, serve, demo, user, subaccount, key, network, settle,
payouts, ingest, simulate, settings.

Option help and environment variables come from the declarations in ``config.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import gzip
import json
import logging
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
import typer
from rich.console import Console
from rich.padding import Padding
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from poolstats.config import Settings, default_text, described, env_name

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts fast
    from poolstats.payouts import BatchFiles
    from poolstats.service import Service
    from poolstats.simulate.cpu_miners import CpuMiner
    from poolstats.simulate.fleet import Fleet
    from poolstats.store.base import NewUser
    from poolstats.store.ledger import Batch
    from poolstats.store.sqlite import SqliteStore

app = typer.Typer(
    help="poolstats: statistics and accounts for a Bitcoin mining pool.",
    no_args_is_help=True,
    add_completion=False,
)
user_app = typer.Typer(help="Sub-accounts and their access keys.", no_args_is_help=True)
app.add_typer(user_app, name="user")
subaccount_app = typer.Typer(
    help="More sub-accounts of an account, and their profiles.", no_args_is_help=True
)
app.add_typer(subaccount_app, name="subaccount")
key_app = typer.Typer(help="Access keys of an account.", no_args_is_help=True)
app.add_typer(key_app, name="key")
network_app = typer.Typer(
    help="Network difficulty, height and fees per block over time (for earnings).",
    no_args_is_help=True,
)
app.add_typer(network_app, name="network")
payouts_app = typer.Typer(
    help="Payout batches: create them for the wallet, then confirm or cancel them.",
    no_args_is_help=True,
)
app.add_typer(payouts_app, name="payouts")
console = Console(stderr=True)
HELP = {  # a no-break space keeps "10 s" and "64 MiB" on one line of --help
    name: f"{text} Default: {default_text(name, default, unit).replace(' ', chr(0xA0))}."
    for name, _, default, unit, text in described()
}
ENV = {name: env for name, env, _, _, _ in described()}
INGEST_CHUNK_LINES = 100_000
# The demo's network: difficulty, height (3.125 BTC subsidy) and fees per block of late 2026.
DEMO_NETWORK = ("149301312726683.5", 925_000, 2_500_000)
# `demo --via stratum`: CPU miners of a few KH/s each, so shares of 2**-20 (4,096 hashes)
# come every fraction of a second until vardiff raises each miner's difficulty to about one
# share per 10 s.
DEMO_MIN_DIFF = 2.0**-20
DEMO_CPU_WORKERS = 4  # per sub-account
DEMO_CPU_HASHRATE_HS = 150_000.0  # in all: a fraction of one core in Python
_SECRET_SETTINGS = frozenset(
    {"bitcoind_password", "ingest_token", "smtp_password"}
)  # `poolstats settings` shows *** for them


def _option(name: str, *flags: str) -> Any:
    return typer.Option(*flags, help=HELP[name], envvar=ENV[name], show_default=False)


DataDir = Annotated[Path | None, _option("data_dir", "--data-dir")]
Host = Annotated[str | None, _option("host", "--host")]
Port = Annotated[int | None, _option("port", "--port")]
Token = Annotated[str | None, _option("ingest_token", "--ingest-token")]
FlushInterval = Annotated[float | None, _option("flush_interval_s", "--flush-interval")]
NodeName = Annotated[str | None, _option("node_name", "--node-name")]
# Repeatable, so no envvar here: POOLSTATS_PEERS (commas) is read by Settings.from_env.
Peers = Annotated[
    list[str] | None,
    typer.Option(
        "--peer",
        help="Base URL of another poolstats node whose pool stats /public/v1/pool/stats/merge "
        f"adds; repeat for several. Default: none. [env var: {ENV['peers']}, comma-separated]",
        show_default=False,
    ),
]
PeerTimeout = Annotated[float | None, _option("peer_timeout_s", "--peer-timeout")]
StratumPort = Annotated[int | None, _option("stratum_port", "--stratum-port")]
StratumHost = Annotated[str | None, _option("stratum_host", "--stratum-host")]
StratumJobs = Annotated[str | None, _option("stratum_jobs", "--stratum-jobs")]
StratumMinDiff = Annotated[float | None, _option("stratum_min_diff", "--stratum-min-diff")]
StratumMaxDiff = Annotated[float | None, _option("stratum_max_diff", "--stratum-max-diff")]
Account = Annotated[str, typer.Option("--account", help="Name of the existing account")]


def _settings(**overrides: Any) -> Settings:
    return Settings.from_env(**overrides)


def _existing_dir(data_dir: Path | None) -> Path:
    """The data folder (--data-dir, else the environment's or the default) if it holds a
    store; else exit 1 with one line saying how to make one. Creates nothing."""
    from poolstats.store.data_folder import DataFolderError, existing

    try:
        return existing(_settings(data_dir=data_dir).data_dir)
    except DataFolderError as exc:
        raise _fail(exc) from exc


def _new_dir(data_dir: Path | None) -> Path:
    """The data folder, made if missing, for the commands that create a store (init, serve,
    demo); exit 1 with one line when it is a file or cannot be made."""
    from poolstats.store.data_folder import DataFolderError, creatable

    try:
        return creatable(_settings(data_dir=data_dir).data_dir)
    except DataFolderError as exc:
        raise _fail(exc) from exc


def _store(data_dir: Path | None) -> SqliteStore:
    """The store of an existing data folder, for every command that reads or changes one."""
    return _open_folder(_existing_dir(data_dir))


def _open_folder(folder: Path) -> SqliteStore:
    """The folder's store, checked against its journal like a node's start (a database gone
    missing or another folder's is refused, not made anew); exit 1 with the reason."""
    from poolstats.store.data_folder import DataFolderRefused, open_store

    try:
        store, _ = open_store(folder)
    except DataFolderRefused as exc:
        raise _fail(exc) from exc
    return store


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "httpx"):  # per-request lines: not what an operator reads
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _open_service(settings: Settings, start_fresh: bool = False) -> Service:
    """The node on ``settings.data_dir``, recovered; exit 2 when the folder cannot be served
    (in use, or its database missing, empty or another folder's: the message says what to do)."""
    from poolstats.ingest.journal import JournalError
    from poolstats.service import Service
    from poolstats.store.data_folder import DataFolderRefused

    try:
        service = Service(settings, start_fresh=start_fresh)
    except DataFolderRefused as exc:
        console.print(f"[red]refusing to start: {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except JournalError as exc:
        console.print(f"[red]{settings.data_dir} is in use by another poolstats process: {exc}")
        raise typer.Exit(2) from exc
    if service.set_aside is not None:
        console.print(
            f"[yellow]--start-fresh: the old database, journal and checkpoint were moved to "
            f"{service.set_aside}; starting with a new database",
            soft_wrap=True,
        )
    recovery = service.recover()
    if recovery.replayed_batches:
        console.print(
            f"recovered {recovery.replayed_shares} shares from {recovery.replayed_batches} "
            f"journaled batches in {recovery.seconds:.2f} s"
        )
    return service


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the server on uvloop where it is installed (faster per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def _serve(
    settings: Settings, service: Service, extra: list[Coroutine[Any, Any, Any]] | None = None
) -> None:
    import uvicorn

    from poolstats.api.app import create_app
    from poolstats.api.connections import http_options

    app = create_app(service)
    # Everything built so far (modules, the engine's index, the app) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks it, which
    # took tens of milliseconds out of single API requests.
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        **http_options(settings, service.metrics),  # header deadline, connection caps
    )
    server = uvicorn.Server(config)
    tasks = [asyncio.create_task(server.serve())]
    for coroutine in extra or []:
        tasks.append(asyncio.create_task(coroutine))
    try:
        await tasks[0]
    finally:
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    ingest_token: Token = None,
    flush_interval: FlushInterval = None,
    node_name: NodeName = None,
    peer: Peers = None,
    peer_timeout: PeerTimeout = None,
    stratum_port: StratumPort = None,
    stratum_host: StratumHost = None,
    stratum_jobs: StratumJobs = None,
    stratum_min_diff: StratumMinDiff = None,
    stratum_max_diff: StratumMaxDiff = None,
    start_fresh: Annotated[
        bool,
        typer.Option(
            "--start-fresh",
            help="When the data folder is refused (its database missing, empty or another "
            "folder's, beside a journal or checkpoint), move the old files into a dated "
            "set-aside folder inside it and start with a new database. Does nothing to a "
            "folder that is fine.",
        ),
    ] = False,
) -> None:
    """Run the server: ingest, engine, store, HTTP API and (with --stratum-port) the stratum
    front end, in one process."""
    _logging()
    settings = _settings(
        data_dir=data_dir,
        host=host,
        port=port,
        ingest_token=ingest_token,
        flush_interval_s=flush_interval,
        node_name=node_name,
        peers=",".join(peer) if peer else None,
        peer_timeout_s=peer_timeout,
        stratum_port=stratum_port,
        stratum_host=stratum_host,
        stratum_jobs=stratum_jobs,
        stratum_min_diff=stratum_min_diff,
        stratum_max_diff=stratum_max_diff,
    )
    _new_dir(settings.data_dir)
    if not settings.ingest_token:
        console.print(
            f"[yellow]no --ingest-token ({env_name('ingest_token')}): "
            "POST /ingest/shares will refuse every request"
        )
    service = _open_service(settings, start_fresh)
    console.print(
        f"poolstats serving http://{settings.host}:{settings.port} (data in {settings.data_dir})"
    )
    extra: list[Coroutine[Any, Any, Any]] = []
    if settings.bitcoind_url:  # the network poller runs only when a node is configured
        from poolstats.network import run_network_poller

        extra.append(run_network_poller(service.store, service.clock, settings))
    from poolstats.alerts.evaluator import AlertEvaluator

    extra.append(
        AlertEvaluator(service.store, settings, service.clock, metrics=service.metrics).run()
    )
    if settings.stratum_port:
        extra.append(_node_stratum(settings, service))
    _run_loop(_serve(settings, service, extra))


def _node_stratum(settings: Settings, service: Service) -> Coroutine[Any, Any, None]:
    """The node's own stratum server, or exit 1 naming the setting that is wrong."""
    from poolstats.stratum.build import job_source, run_node_stratum, stratum_config
    from poolstats.stratum.template import store_recorder

    try:
        config = stratum_config(settings)
        source = job_source(settings, store_recorder(service.store, service.clock, service.metrics))
    except ValueError as exc:
        service.close()
        raise _fail(exc) from exc
    console.print(
        f"stratum+tcp://{settings.stratum_host}:{settings.stratum_port} "
        f"({settings.stratum_jobs} jobs, difficulty {settings.stratum_min_diff:g} to "
        f"{settings.stratum_max_diff:g})"
    )
    return run_node_stratum(settings, service, source, config)


# `poolstats stratum` is a stratum server: its port is required, and 0 does not mean "none".
StratumOwnPort = Annotated[
    int | None,
    typer.Option(
        "--stratum-port",
        help="Port miners connect to (required).",
        envvar=ENV["stratum_port"],
        show_default=False,
    ),
]


@app.command()
def stratum(
    stratum_port: StratumOwnPort = None,
    stratum_host: StratumHost = None,
    stratum_jobs: StratumJobs = None,
    stratum_min_diff: StratumMinDiff = None,
    stratum_max_diff: StratumMaxDiff = None,
    ingest_url: Annotated[str | None, _option("stratum_ingest_url", "--ingest-url")] = None,
    ingest_token: Token = None,
    data_dir: DataDir = None,
) -> None:
    """Run a stratum front end on its own, posting its shares to a node's ingest URL
    (scale-out: several of these feed one node)."""
    from poolstats.stratum.build import job_source, stratum_config
    from poolstats.stratum.remote import shown, stratum_process

    _logging()
    settings = _settings(
        stratum_port=stratum_port,
        stratum_host=stratum_host,
        stratum_jobs=stratum_jobs,
        stratum_min_diff=stratum_min_diff,
        stratum_max_diff=stratum_max_diff,
        stratum_ingest_url=ingest_url,
        ingest_token=ingest_token,
        data_dir=data_dir,
    )
    if not settings.stratum_port:
        raise _fail(ValueError("--stratum-port: required, the port miners connect to (e.g. 3333)"))
    try:
        process = stratum_process(settings, job_source(settings), stratum_config(settings))
    except ValueError as exc:
        raise _fail(exc) from exc
    console.print(
        f"stratum+tcp://{settings.stratum_host}:{settings.stratum_port} -> "
        f"{shown(settings.stratum_ingest_url)}"
    )
    _run_loop(process.run())


@app.command()
def init(data_dir: DataDir = None) -> None:
    """Create the data folder and its database (run it again: nothing changes). The commands
    that read or change a store need one; serve and demo create it too."""
    from poolstats.store.data_folder import holds_database

    folder = _new_dir(data_dir)
    existed = holds_database(folder)
    with _open_folder(folder):  # creates the database, or brings it to the newest schema
        pass
    if existed:
        print(f"{folder} holds a poolstats database already: left as it was")
    else:
        print(f"created a poolstats database in {folder}")


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(help="New (or empty) folder to write the backup to")],
    data_dir: DataDir = None,
) -> None:
    """Back up a data folder, also while its server runs: the database, the checkpoint and
    the journal the database does not hold yet, with a manifest. Prints the manifest."""
    from poolstats.store.backup import BackupError
    from poolstats.store.backup import backup as make_backup

    settings = _settings(data_dir=data_dir)
    try:
        manifest = make_backup(Path(settings.data_dir), dest)
    except (BackupError, OSError, ValueError) as exc:
        raise _fail(exc) from exc
    print(json.dumps(manifest, indent=2))


@app.command()
def restore(
    src: Annotated[Path, typer.Argument(help="A folder written by poolstats backup")],
    data_dir: DataDir = None,
) -> None:
    """Verify a backup and make a new (or empty) data folder of it; serve that folder then."""
    from poolstats.store.backup import BackupError
    from poolstats.store.backup import restore as restore_backup

    settings = _settings(data_dir=data_dir)
    try:
        manifest = restore_backup(src, Path(settings.data_dir))
    except (BackupError, OSError, ValueError) as exc:
        raise _fail(exc) from exc
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


@user_app.command("create")
def user_create(name: str, data_dir: DataDir = None) -> None:
    """Create a sub-account (with its account and an access key); prints them as JSON."""

    settings = _settings(data_dir=data_dir)
    with _store(settings.data_dir) as store:
        try:
            user = store.create_user(name, int(time.time()))
        except ValueError as exc:
            console.print(f"[red]{exc}")
            raise typer.Exit(1) from exc
    print(
        json.dumps({"puid": user.puid, "user_name": user.user_name, "access_key": user.access_key})
    )


def _fail(exc: Exception) -> typer.Exit:
    """Print why a store call refused, for ``raise _fail(exc) from exc``: exit status 1.

    One line however narrow the terminal (a path or a command to copy stays whole), and the
    text as it is: a name or path with brackets is not read as markup."""
    console.print(str(exc), style="red", markup=False, soft_wrap=True)
    return typer.Exit(1)


@subaccount_app.command("create")
def subaccount_create(name: str, account: Account, data_dir: DataDir = None) -> None:
    """Add a sub-account to an existing account; prints its puid as JSON."""
    from poolstats.store.base import UnknownAccount

    with _store(data_dir) as store:
        try:
            puid = store.create_subaccount(account, name, int(time.time()))
        except (UnknownAccount, ValueError) as exc:
            raise _fail(exc) from exc
    print(json.dumps({"puid": puid, "user_name": name, "account": account}))


@subaccount_app.command("set")
def subaccount_set(
    subaccount: Annotated[str, typer.Argument(help="Sub-account name, or puid (all digits)")],
    payment_mode: Annotated[
        str | None, typer.Option(help="Payment mode: PPS (subsidy) or FPPS (plus fees)")
    ] = None,
    fee_rate: Annotated[
        str | None,
        typer.Option(help="Pool fee for this sub-account, e.g. 0.02; 'default': the pool's"),
    ] = None,
    min_payout: Annotated[
        int | None, typer.Option(help="Minimum payout in satoshis (500000 = 0.005 BTC)")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Payout address (Bitcoin mainnet)")] = None,
    nmc_address: Annotated[str | None, typer.Option(help="Namecoin payout address")] = None,
    rebates_address: Annotated[str | None, typer.Option(help="Rebates address")] = None,
    region: Annotated[str | None, typer.Option(help="Region")] = None,
    mail: Annotated[str | None, typer.Option(help="Mail address")] = None,
    phone_country: Annotated[str | None, typer.Option(help="Phone country code")] = None,
    phone_number: Annotated[str | None, typer.Option(help="Phone number")] = None,
    data_dir: DataDir = None,
) -> None:
    """Set profile fields and payout settings of a sub-account; prints the profile as JSON.

    The store checks every value (address checksum, payment mode, fee, minimum), so a
    refusal here says the same as the API's would.
    """

    given: dict[str, str | int | None] = {
        "payment_mode": payment_mode,
        "min_payout_sat": min_payout,
        "address": address,
        "nmc_address": nmc_address,
        "rebates_address": rebates_address,
        "region": region,
        "mail": mail,
        "phone_country": phone_country,
        "phone_number": phone_number,
    }
    fields: dict[str, str | int | None] = {k: v for k, v in given.items() if v is not None}
    if fee_rate is not None:  # None in the store means the pool's fee, so 'default' says so
        fields["fee_rate"] = None if fee_rate.strip().lower() == "default" else fee_rate
    if not fields:
        console.print("[red]nothing to set: give at least one of --payment-mode, --address, ...")
        raise typer.Exit(1)
    with _store(data_dir) as store:
        found = int(subaccount) if subaccount.isdigit() else store.puid_of(subaccount)
        if found is None:
            console.print(f"[red]no sub-account is named {subaccount!r}")
            raise typer.Exit(1)
        puid = found
        try:
            updated = store.update_subaccount_profile(puid, fields, int(time.time()))
        except ValueError as exc:
            raise _fail(exc) from exc
        if not updated:
            console.print(f"[red]no sub-account has puid {puid}")
            raise typer.Exit(1)
        profile = store.subaccount_profile(puid)
    print(json.dumps(profile))


@key_app.command("create")
def key_create(
    account: Account,
    read_only: Annotated[bool, typer.Option("--read-only", help="The key may only read")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create an access key for every sub-account of an account; prints it once, as JSON."""
    from poolstats.store.base import UnknownAccount

    with _store(data_dir) as store:
        try:
            key = store.create_key(account, read_only, int(time.time()))
        except UnknownAccount as exc:
            raise _fail(exc) from exc
    print(json.dumps({"account": account, "read_only": read_only, "access_key": key}))


@key_app.command("revoke")
def key_revoke(data_dir: DataDir = None) -> None:
    """Revoke an access key read from standard input (never an argument: shell history and
    process lists would keep it). A running server stops accepting it within key_cache_s."""

    access_key = sys.stdin.readline().strip()
    if not access_key:
        raise _fail(ValueError("no access key on standard input"))
    with _store(data_dir) as store:
        revoked = store.revoke_key(access_key, int(time.time()))
    if not revoked:
        raise _fail(ValueError("unknown or already revoked access key"))
    print(json.dumps({"revoked": True}))


@network_app.command("set")
def network_set(
    difficulty: Annotated[
        str, typer.Option(help="Network difficulty, as an exact decimal (e.g. 110451907374649.5)")
    ],
    height: Annotated[int, typer.Option(help="Block height in force from --at")],
    fees_per_block: Annotated[
        int, typer.Option(help="Average total fees per block, in satoshis")
    ] = 0,
    at: Annotated[
        int | None, typer.Option(help="Unix seconds from which the values are in force (now)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Record the network values in force from --at; prints the recorded entry as JSON."""

    now = int(time.time())
    when = now if at is None else at
    with _store(data_dir) as store:
        try:
            store.record_network(when, difficulty, height, fees_per_block, "cli", now)
        except ValueError as exc:
            raise _fail(exc) from exc
        entry = store.network_at(when)
    print(json.dumps(entry))


@network_app.command("show")
def network_show(
    at: Annotated[int | None, typer.Option(help="Unix seconds (default: now)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Print the network entry in force at --at as JSON; exit 1 if none is."""

    when = int(time.time()) if at is None else at
    with _store(data_dir) as store:
        entry = store.network_at(when)
    if entry is None:
        raise _fail(LookupError(f"no network entry is in force at {when}"))
    print(json.dumps(entry))


@app.command()
def settle(
    day: Annotated[
        str | None,
        typer.Option(help="Settle every unsettled UTC day up to this one, YYYY-MM-DD (yesterday)"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Settle earnings of ended UTC days (the server does it after midnight); prints JSON.

    Running it again changes nothing: settled days stay as they are, and shares that arrive
    later for them are settled with the first unsettled day.
    """
    from poolstats.store import ledger

    settings = _settings(data_dir=data_dir)
    now = int(time.time())
    try:
        fee = settings.fee_rate()
        through = ledger.parse_day(day) if day else ledger.day_start(now) - 86400
        with _store(settings.data_dir) as store:
            done = ledger.settle(store, through, now, fee)
    except ValueError as exc:  # LedgerError included
        raise _fail(exc) from exc
    last = done.settled_through
    print(
        json.dumps(
            {
                "settled_through": None if last is None else ledger.day_text(last),
                "days": [ledger.day_text(d) for d in done.days],
                "earnings_rows": done.rows,
                "total_sat": done.total_sat,
                "already_settled": done.already,
            }
        )
    )


PayoutsOut = Annotated[
    Path | None,
    typer.Option("--out", help="Folder for the batch files (default: DATA_DIR/payouts)"),
]


def _batch_json(batch: Batch, files: BatchFiles | None = None) -> dict[str, Any]:
    return {
        "batch_id": batch.id,
        "status": batch.status.value,
        "txid": batch.txid,
        "payouts": [
            {"puid": p.puid, "address": p.address, "amount": p.amount_sat} for p in batch.payouts
        ],
        **({"csv": str(files.csv), "sendmany": str(files.sendmany)} if files else {}),
    }


@payouts_app.command("create")
def payouts_create(out: PayoutsOut = None, data_dir: DataDir = None) -> None:
    """Batch every sub-account whose unpaid balance reaches its minimum payout, write the
    batch as CSV and as sendmany JSON, and print it (amounts in satoshis)."""
    from poolstats.payouts import write_batch_files
    from poolstats.store import ledger

    settings = _settings(data_dir=data_dir)
    with _store(settings.data_dir) as store:
        new = ledger.create_batch(store, int(time.time()))
    for puid in new.no_address:
        console.print(f"[yellow]puid {puid} is due a payout but has no payout address")
    if new.batch is None:
        print(json.dumps({"batch_id": None, "payouts": []}))
        return
    try:
        files = write_batch_files(new.batch, out or settings.data_dir / "payouts")
    except OSError as exc:
        console.print(
            f"[red]batch {new.batch.id} is recorded but its files were not written ({exc}); "
            f"write them with `poolstats payouts export {new.batch.id}`"
        )
        raise typer.Exit(1) from exc
    print(json.dumps(_batch_json(new.batch, files)))


@payouts_app.command("export")
def payouts_export(batch: int, out: PayoutsOut = None, data_dir: DataDir = None) -> None:
    """Write a batch's CSV and sendmany files again."""
    from poolstats.payouts import write_batch_files
    from poolstats.store import ledger

    settings = _settings(data_dir=data_dir)
    with _store(settings.data_dir) as store:
        try:
            found = ledger.batch(store, batch)
        except ValueError as exc:
            raise _fail(exc) from exc
    files = write_batch_files(found, out or settings.data_dir / "payouts")
    print(json.dumps(_batch_json(found, files)))


@payouts_app.command("confirm")
def payouts_confirm(
    batch: int,
    txid: Annotated[str, typer.Option(help="The transaction that paid the batch")],
    data_dir: DataDir = None,
) -> None:
    """Mark a pending batch paid by TXID."""
    from poolstats.store import ledger

    with _store(data_dir) as store:
        try:
            done = ledger.confirm_batch(store, batch, txid, int(time.time()))
        except ValueError as exc:
            raise _fail(exc) from exc
    print(json.dumps(_batch_json(done)))


@payouts_app.command("cancel")
def payouts_cancel(batch: int, data_dir: DataDir = None) -> None:
    """Cancel a pending batch (never sent): its amounts become unpaid again."""
    from poolstats.store import ledger

    with _store(data_dir) as store:
        try:
            done = ledger.cancel_batch(store, batch, int(time.time()))
        except ValueError as exc:
            raise _fail(exc) from exc
    print(json.dumps(_batch_json(done)))


@payouts_app.command("list")
def payouts_list(data_dir: DataDir = None) -> None:
    """Every batch with its status and payouts, as JSON lines."""
    from poolstats.store import ledger

    with _store(data_dir) as store:
        for found in ledger.batches(store):
            print(json.dumps(_batch_json(found)))


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


@app.command()
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
    from poolstats.ingest.pipeline import Format

    for path in files:  # all of them before any is sent: a typo costs nothing
        if not path.is_file():
            why = "is a folder" if path.is_dir() else "no such file"
            raise _fail(FileNotFoundError(f"{path}: {why}"))
    settings = _settings(data_dir=data_dir, ingest_token=ingest_token)
    with contextlib.ExitStack() as stack:
        send: Callable[[bytes], dict[str, Any]]
        if url:
            client = stack.enter_context(httpx.Client(timeout=120))
            send = functools.partial(_post, client, url, settings.ingest_token)
        else:
            _existing_dir(settings.data_dir)
            service = _open_service(settings)
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


def _ensure_users(
    store: SqliteStore, names: list[str]
) -> tuple[dict[str, int], dict[str, NewUser]]:
    """Create the sub-accounts that do not exist yet; returns every puid, and the new users
    (their access keys can be shown only now)."""
    existing = store.subaccounts()
    created = {n: store.create_user(n, int(time.time())) for n in names if n not in existing}
    return {**existing, **{n: u.puid for n, u in created.items()}}, created


@app.command()
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
        with _store(data_dir) as store:
            _ensure_users(store, names)
    settings = _settings(ingest_token=ingest_token)
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


@app.command()
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
    _logging()
    stratum = via == "stratum"
    settings = _settings(
        host=host,
        port=port,
        stratum_port=stratum_port if stratum else None,
        stratum_min_diff=DEMO_MIN_DIFF if stratum else None,
    )
    # Before anything is made or printed: a key and a URL that lead to another server, or a
    # folder left behind by a demo that could not start, help nobody.
    _check_port(settings.host, settings.port, "PORT={} make demo", "--port {}")
    if stratum:
        _check_port(
            settings.stratum_host,
            settings.stratum_port,
            "STRATUM_PORT={} make demo VIA=stratum",
            "--stratum-port {}",
        )
    made = data_dir is None
    folder = _new_dir(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="poolstats-demo-"))
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


def _check_port(host: str, port: int, make_hint: str, flag_hint: str) -> None:
    """Exit 1 with one line naming the port and another one to use, if ``port`` cannot be
    bound (as the server will bind it: SO_REUSEADDR, so a port in TIME_WAIT is free)."""
    try:
        _bind_test(host, port)
    except OSError as exc:
        other = next((p for p in range(port + 1, port + 50) if _bindable(host, p)), port + 1)
        raise _fail(
            OSError(
                f"port {port} on {host} cannot be used ({exc.strerror or exc}): is another "
                f"server on it? Start the demo on another port: `{make_hint.format(other)}`, "
                f"or `poolstats demo {flag_hint.format(other)}`"
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
    from poolstats.store.sqlite import SqliteStore

    folder, token = settings.data_dir, settings.ingest_token
    names = ["demo"] + [f"sim{i:04d}" for i in range(1, users + 1)]
    with SqliteStore.open(folder) as store:
        puids, created = _ensure_users(store, names)
    demo_user = created.get("demo")
    service = _open_service(settings)
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
        table.add_row("dashboard", f"{base}/?access_key={demo_user.access_key}")
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
        print(f"dashboard: {base}/?access_key={demo_user.access_key}", flush=True)
    if stratum:
        from poolstats.simulate.cpu_miners import run_miners

        feeds: list[Coroutine[Any, Any, Any]] = [
            _node_stratum(settings, service),
            run_miners(miners),
        ]
    else:
        feeds = [
            run(base + "/ingest/shares", token, fleet, fmt="columnar", interval_s=2.0)
        ]  # from where the backfill ended: the fleet's time
    from poolstats.alerts.evaluator import AlertEvaluator

    alerts = AlertEvaluator(service.store, settings, service.clock, metrics=service.metrics).run()
    _run_loop(_serve(settings, service, [*feeds, alerts]))


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


@app.command()
def blocks(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest blocks")] = 50,
    data_dir: DataDir = None,
) -> None:
    """The blocks the pool found, newest first, as JSON lines: height, hash, finder (puid,
    worker), reward in satoshis, found_at (unix seconds), status and the node's reason."""
    from poolstats.store.blocks import BlockStore

    with _store(data_dir) as store:
        _, found = BlockStore(store).page(0, limit)
    for block in found:
        print(json.dumps(dataclasses.asdict(block)))


SETTINGS_TABLE_MIN_WIDTH = 150  # narrower: one block per setting, names never cut


@app.command("settings")
def show_settings(
    markdown: Annotated[bool, typer.Option(help="Print the table of docs/settings.md")] = False,
) -> None:
    """List every setting with its environment variable, default and current value."""
    if markdown:
        print(settings_markdown(), end="")
        return
    current = _settings()
    out = Console()
    rows = []
    for name, env, default, unit, text in described():
        value = getattr(current, name)
        shown = "***" if name in _SECRET_SETTINGS and value else default_text("", value, unit)
        rows.append((name, env, default_text(name, default, unit), shown, text))
    if out.width >= SETTINGS_TABLE_MIN_WIDTH:
        table = Table("environment", "setting", "default", "current", "help")
        for column in table.columns[:3]:  # what a reader copies stays whole; help folds
            column.no_wrap = True
        for row in rows:
            table.add_row(*(Text(cell) for cell in (row[1], *row[:1], *row[2:])))
        out.print(table)
        return
    # The environment variable is what this command exists to show: on a line of its own,
    # never cut or folded, however narrow the terminal.
    for name, env, default, shown, text in rows:
        out.print(Text(env, style="bold"), Text(f"({name})", style="dim"), soft_wrap=True)
        out.print(Padding(Text(text), (0, 0, 0, 2)))
        out.print(Padding(Text(f"default: {default}   current: {shown}"), (0, 0, 1, 2)))


def settings_markdown() -> str:
    lines = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for name, env, default, unit, text in described():
        shown = f"`{default_text(name, default, unit)}`" if default != "" else "*empty*"
        lines.append(f"| `{name}` | `{env}` | {shown} | {text} |")
    return "\n".join(lines) + "\n"


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
