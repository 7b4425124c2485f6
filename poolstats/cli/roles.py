"""The cluster's roles, each a process on the cluster's PostgreSQL store (docs/cluster.md,
"Processes"; docs/deploy.md):

- ``gateway``: producers' share batches in, each partition's shares out to the bus; any number.
- ``aggregate --partition K``: one partition of the bus counted into the store; two per
  partition, one active (lease ``aggregate/K``), the other a hot standby.
- ``api``: the HTTP APIs, reading the store; stateless, run as many as you like.
- ``jobs``: settlement, alerts, the bitcoind poller and pruning; run two or more, one is
  active (lease ``jobs``).

Each is ``poolstats.node``'s builder with the role's parts (``API``, ``JOBS``, ``GATEWAY``,
``aggregate(K)``); the commands here check the options and say what runs.
"""

from __future__ import annotations

from typing import Annotated

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
    open_node,
    option,
    start_logging,
)
from poolstats.cli.serve import FlushInterval, run_loop
from poolstats.config import Settings

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
    from poolstats.node import API

    node = open_node(settings, API)
    console.print(f"poolstats api serving http://{settings.host}:{settings.port}")
    run_loop(node.run())


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
    from poolstats.node import JOBS

    node = open_node(settings, JOBS)
    assert node.jobs is not None
    console.print(f"poolstats jobs: standing by for lease {node.jobs.lease.name!r}")
    run_loop(node.run())


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
    from poolstats.node import GATEWAY

    run_loop(open_node(settings, GATEWAY).run())


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
    from poolstats.node import aggregate as aggregator

    run_loop(open_node(settings, aggregator(partition)).run())
