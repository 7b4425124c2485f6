"""``poolstats serve`` and ``poolstats stratum``: a node (ingest, store, HTTP API and, with
--stratum-port, its own stratum server) and a stratum front end on its own. ``demo`` runs
its node with the same pieces: ``run_loop``, ``serve_api`` and ``node_stratum``.

The options only these two commands take are declared here; the shared ones in ``common.py``.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from poolstats.cli.common import (
    ENV,
    BusUrl,
    DataDir,
    Host,
    Partitions,
    Port,
    StoreUrl,
    Token,
    console,
    fail,
    load_settings,
    new_dir,
    open_service,
    option,
    start_logging,
)
from poolstats.config import Settings, env_name

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts fast
    from poolstats.api.node import ApiNode
    from poolstats.metrics import Metrics
    from poolstats.service import Service

FlushInterval = Annotated[float | None, option("flush_interval_s", "--flush-interval")]
NodeName = Annotated[str | None, option("node_name", "--node-name")]
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
PeerTimeout = Annotated[float | None, option("peer_timeout_s", "--peer-timeout")]
StratumPort = Annotated[int | None, option("stratum_port", "--stratum-port")]
StratumHost = Annotated[str | None, option("stratum_host", "--stratum-host")]
StratumJobs = Annotated[str | None, option("stratum_jobs", "--stratum-jobs")]
StratumMinDiff = Annotated[float | None, option("stratum_min_diff", "--stratum-min-diff")]
StratumMaxDiff = Annotated[float | None, option("stratum_max_diff", "--stratum-max-diff")]

GC_FULL_EVERY = 100  # middle-generation collections between two full ones (Python: 10)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the server on uvloop where it is installed (faster per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def serve_api(
    settings: Settings, service: ApiNode, extra: list[Coroutine[Any, Any, Any]] | None = None
) -> None:
    """The HTTP API on the settings' host and port, with the ``extra`` coroutines (network
    poller, alerts, stratum, a fleet) running beside it until the server stops."""
    from poolstats.api.app import create_app

    await serve_app(settings, create_app(service), service.metrics, extra)


async def serve_app(
    settings: Settings,
    app: Any,
    metrics: Metrics,
    extra: list[Coroutine[Any, Any, Any]] | None = None,
) -> None:
    """Any of poolstats' HTTP apps (a node's, a gateway's) on the settings' host and port,
    with the connection limits, and ``extra`` coroutines beside it until the server stops."""
    import uvicorn

    from poolstats.api.connections import http_options

    # Everything built so far (modules, the engine's index, the app) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks it, which
    # took tens of milliseconds out of single API requests.
    gc.collect()
    gc.freeze()
    # A full collection still walks everything made since, and stops every request while it
    # does: with 15,000 connections open it took 110-170 ms, several times in a minute of
    # connections coming and going (bench/hostile.py). The young generations catch the
    # cycles of short-lived requests and connections; full ones now come 10 times less often.
    gc.set_threshold(700, 10, GC_FULL_EVERY)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        **http_options(settings, metrics),  # header deadline, connection caps
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


def serve(
    data_dir: DataDir = None,
    store_url: StoreUrl = None,
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
    start_logging()
    settings = load_settings(
        data_dir=data_dir,
        store_url=store_url,
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
    new_dir(settings.data_dir)
    if not settings.ingest_token:
        console.print(
            f"[yellow]no --ingest-token ({env_name('ingest_token')}): "
            "POST /ingest/shares will refuse every request"
        )
    service = open_service(settings, start_fresh)
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
        extra.append(node_stratum(settings, service))
    run_loop(serve_api(settings, service, extra))


def node_stratum(settings: Settings, service: Service) -> Coroutine[Any, Any, None]:
    """The node's own stratum server, or exit 1 naming the setting that is wrong."""
    from poolstats.stratum.build import job_source, run_node_stratum, stratum_config
    from poolstats.stratum.template import store_recorder

    try:
        config = stratum_config(settings)
        source = job_source(settings, store_recorder(service.store, service.clock, service.metrics))
    except ValueError as exc:
        service.close()
        raise fail(exc) from exc
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


def stratum(
    stratum_port: StratumOwnPort = None,
    stratum_host: StratumHost = None,
    stratum_jobs: StratumJobs = None,
    stratum_min_diff: StratumMinDiff = None,
    stratum_max_diff: StratumMaxDiff = None,
    ingest_url: Annotated[str | None, option("stratum_ingest_url", "--ingest-url")] = None,
    ingest_token: Token = None,
    bus_url: BusUrl = None,
    store_url: StoreUrl = None,
    partitions: Partitions = None,
    data_dir: DataDir = None,
) -> None:
    """Run a stratum front end on its own, posting its shares to a node's ingest URL
    (scale-out: several of these feed one node), or, with --bus-url (and --store-url, where
    user names are read), publishing them straight to a cluster's share bus as a gateway
    does. Either way, shares wait in a spool on disk while they cannot be delivered."""
    from poolstats.stratum.build import job_source, stratum_config
    from poolstats.stratum.remote import stratum_process

    start_logging()
    settings = load_settings(
        stratum_port=stratum_port,
        stratum_host=stratum_host,
        stratum_jobs=stratum_jobs,
        stratum_min_diff=stratum_min_diff,
        stratum_max_diff=stratum_max_diff,
        stratum_ingest_url=ingest_url,
        ingest_token=ingest_token,
        bus_url=bus_url,
        store_url=store_url,
        partitions=partitions,
        data_dir=data_dir,
    )
    if not settings.stratum_port:
        raise fail(ValueError("--stratum-port: required, the port miners connect to (e.g. 3333)"))
    try:
        process = stratum_process(settings, job_source(settings), stratum_config(settings))
    except ValueError as exc:
        raise fail(exc) from exc
    console.print(
        f"stratum+tcp://{settings.stratum_host}:{settings.stratum_port} -> {process.ingest.where}"
    )
    run_loop(process.run())
