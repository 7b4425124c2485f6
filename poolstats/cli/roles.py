"""The cluster's roles, each a process on the cluster's PostgreSQL store (docs/cluster.md,
"Processes"; docs/deploy.md):

- ``gateway``: producers' share batches in, each partition's shares out to the bus; any number.
- ``aggregate --partition K``: one partition of the bus counted into the store; two per
  partition, one active (lease ``aggregate/K``), the other a hot standby.
- ``api``: the HTTP APIs, reading the store; stateless, run as many as you like.
- ``jobs``: settlement, alerts, the bitcoind poller and pruning; run two or more, one is
  active (lease ``jobs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from poolstats.cli.common import (
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
    open_database,
    option,
    start_logging,
)
from poolstats.cli.serve import FlushInterval, run_loop, serve_api
from poolstats.config import Settings

if TYPE_CHECKING:
    from poolstats.bus import Bus

BUS_RETRY_S = 1.0
LeaseTtl = Annotated[float | None, option("lease_ttl_s", "--lease-ttl")]
BitcoindUrl = Annotated[str | None, option("bitcoind_url", "--bitcoind-url")]


def _cluster_settings(**overrides: object) -> Settings:
    """The settings, or exit 1 when there is no PostgreSQL store to share."""
    settings = load_settings(**overrides)
    if not settings.store_url:
        raise fail(
            ValueError(
                "--store-url (POOLSTATS_STORE_URL): required, the cluster's PostgreSQL store "
                "(postgresql://user@host:5432/db)"
            )
        )
    return settings


def api(
    store_url: StoreUrl = None,
    host: Host = None,
    port: Port = None,
    partitions: Partitions = None,
    flush_interval: FlushInterval = None,
) -> None:
    """Serve the HTTP APIs (BTC.COM, Tangpool, dashboard, /healthz, /metrics) from the store
    alone: no shares are taken here. Stateless; run any number behind a load balancer.
    --partitions and --flush-interval must be the aggregators': /healthz judges each
    partition's last flush by them."""
    start_logging()
    settings = _cluster_settings(
        store_url=store_url,
        host=host,
        port=port,
        partitions=partitions,
        flush_interval_s=flush_interval,
    )
    from poolstats.cluster.read_node import ReadNode

    store = open_database(settings.store_url, Path(settings.data_dir))
    node = ReadNode(settings, store)
    console.print(f"poolstats api serving http://{settings.host}:{settings.port}")
    run_loop(serve_api(settings, node))


def jobs(
    store_url: StoreUrl = None,
    lease_ttl: LeaseTtl = None,
    bitcoind_url: BitcoindUrl = None,
) -> None:
    """Settle earnings, evaluate alerts, poll bitcoind (with --bitcoind-url) and prune old
    history. Run two or more: one is active (lease "jobs"), the others take over within
    --lease-ttl when it stops."""
    start_logging()
    settings = _cluster_settings(
        store_url=store_url, lease_ttl_s=lease_ttl, bitcoind_url=bitcoind_url
    )
    from poolstats.cluster.jobs import Jobs

    store = open_database(settings.store_url, Path(settings.data_dir))
    try:
        runner = Jobs(settings, store)
    except ValueError as exc:
        store.close()
        raise fail(exc) from exc
    console.print(f"poolstats jobs: standing by for lease {runner.lease.name!r}")
    try:
        run_loop(_until_stopped(runner.run()))
    finally:
        store.close()


async def _until_stopped(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` until SIGTERM or SIGINT cancel it, so it gives up what it holds (a lease:
    a standby need not wait for it to expire)."""
    task = asyncio.create_task(main)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _bus(settings: Settings) -> Bus:
    """The share bus, waited for: a role may start before NATS, or while a NATS cluster is
    still electing its leaders (it answers "timeout" for a few seconds then)."""
    from poolstats.bus import BusUnavailable, open_bus

    while True:
        try:
            return await open_bus(settings.bus_url, settings)
        except BusUnavailable as exc:
            console.print(f"[yellow]share bus not ready ({exc}); trying again")
            await asyncio.sleep(BUS_RETRY_S)


def _needs_bus(settings: Settings, command: str) -> None:
    if not settings.bus_url:
        raise fail(ValueError(f"{command}: --bus-url is required (nats://host:4222[,...])"))


def gateway(
    bus_url: BusUrl = None,
    store_url: StoreUrl = None,
    partitions: Partitions = None,
    host: Host = None,
    port: Port = None,
    ingest_token: Token = None,
    data_dir: DataDir = None,
) -> None:
    """Take share batches on POST /ingest/shares (the same contract as a node) and publish
    each partition's shares to the bus; answer once the bus has them. Any number may run."""
    start_logging()
    settings = _cluster_settings(
        bus_url=bus_url, store_url=store_url, partitions=partitions, host=host, port=port,
        ingest_token=ingest_token, data_dir=data_dir,
    )  # fmt: skip
    _needs_bus(settings, "gateway")
    console.print(
        f"poolstats gateway on http://{settings.host}:{settings.port} -> {settings.bus_url} "
        f"({settings.partitions} partitions)"
    )
    run_loop(_until_stopped(_gateway(settings)))


async def _gateway(settings: Settings) -> None:
    from poolstats.api.gateway import create_gateway_app
    from poolstats.cli.serve import serve_app
    from poolstats.clock import SystemClock
    from poolstats.cluster.gateway import Gateway, GatewayNode
    from poolstats.metrics import Metrics
    from poolstats.service import Registry
    from poolstats.store import open_store

    store = await asyncio.to_thread(open_store, settings.store_url, Path(settings.data_dir))
    try:
        async with await _bus(settings) as bus:
            clock = SystemClock()
            registry = Registry(store)
            node = GatewayNode(
                settings, clock, Metrics(), registry,
                Gateway(bus, registry, clock.now, settings.future_s),
            )  # fmt: skip
            await serve_app(settings, create_gateway_app(node), node.metrics)
    finally:
        store.close()


def aggregate(
    partition: Annotated[
        int, typer.Option("--partition", help="The partition of the bus to count (0 to N-1).")
    ],
    bus_url: BusUrl = None,
    store_url: StoreUrl = None,
    partitions: Partitions = None,
    data_dir: DataDir = None,
    flush_interval: FlushInterval = None,
    lease_ttl: LeaseTtl = None,
) -> None:
    """Count one partition of the share bus and flush it to the store. Start two per
    partition: one is active (it holds the partition's lease), the other a hot standby that
    takes over within seconds of the active one's end. The engine's checkpoint is kept in
    DATA_DIR/aggregate-K."""
    start_logging()
    settings = _cluster_settings(
        bus_url=bus_url, store_url=store_url, partitions=partitions, data_dir=data_dir,
        flush_interval_s=flush_interval, lease_ttl_s=lease_ttl,
    )  # fmt: skip
    _needs_bus(settings, "aggregate")
    if not 0 <= partition < settings.partitions:
        raise fail(ValueError(f"--partition: {partition} is not in 0..{settings.partitions - 1}"))
    console.print(f"poolstats aggregate: partition {partition} of {settings.bus_url}")
    run_loop(_until_stopped(_aggregate(settings, partition)))


async def _aggregate(settings: Settings, partition: int) -> None:
    from poolstats.cluster.aggregator import Aggregator, lease_name
    from poolstats.cluster.leaseholder import Leaseholder
    from poolstats.service import Registry
    from poolstats.store import open_store

    data_dir = Path(settings.data_dir)
    store = await asyncio.to_thread(open_store, settings.store_url, data_dir)
    try:
        async with await _bus(settings) as bus:
            lease = Leaseholder(store, lease_name(partition), settings.lease_ttl_s, time.time)
            aggregator = Aggregator(
                settings, store, bus, partition, Registry(store),
                data_dir / f"aggregate-{partition}", lease,
            )  # fmt: skip
            await aggregator.run()
    finally:
        store.close()
