"""``poolstats api`` and ``poolstats jobs``: two roles of the cluster (docs/cluster.md,
"Processes"), each on the cluster's PostgreSQL store and nothing else.

- ``api``: the HTTP APIs, reading the store; stateless, run as many as you like.
- ``jobs``: settlement, alerts, the bitcoind poller and pruning; run two or more, one is
  active (lease ``jobs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from poolstats.cli.common import (
    Host,
    Port,
    StoreUrl,
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
    from poolstats.cluster.jobs import Jobs

Partitions = Annotated[int | None, option("partitions", "--partitions")]
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
        run_loop(_until_stopped(runner))
    finally:
        store.close()


async def _until_stopped(runner: Jobs) -> None:
    """Run the jobs until SIGTERM or SIGINT, then give the lease up (a standby need not
    wait for it to expire)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await runner.run()
