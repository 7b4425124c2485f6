"""One builder for every poolstats process: ``poolstats serve``, ``demo``, ``ingest`` and the
cluster's roles (``gateway``, ``aggregate``, ``api``, ``jobs``; ``cluster-demo`` starts these
as commands) are this builder with different parts switched on (``Parts``: ``SERVE``,
``DEMO``, ``API``, ...).

Why one builder: each process used to be assembled by hand in its command, so the order in
which parts were opened, which tasks ran beside the server and how they were stopped
differed from one to the next (a node's last checkpoint was written by the HTTP app while
its stratum server could still be feeding it). Here the order is written once:

- ``open()``, with no event loop yet: the store (a node's data folder with its journal and
  engine, recovered; or the cluster's database alone), then what only needs the store (the
  API's read node, the jobs runner, the stratum server's settings and job source). What
  cannot start raises here, before anything runs, having closed what it had opened.
- ``run()``, on the event loop: the share bus (waited for: a role may start before NATS),
  what needs it (the gateway, an aggregator), then every task: the role's main one (the
  HTTP server, an aggregator, the jobs runner) and beside it a node's flush timers, the
  alert evaluator, the network poller, stratum and any ``extra`` (the demo's fleet). When
  the main task ends (the server shut down; with ``until_signal``, SIGTERM or SIGINT) the
  others are cancelled in reverse order of starting, then the parts are closed in reverse
  order of opening: the bus, then the store, so that a node's last flush and checkpoint
  come after every task that fed it has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poolstats.clock import Clock, SystemClock
from poolstats.config import Settings
from poolstats.metrics import Metrics
from poolstats.threads import in_thread

if TYPE_CHECKING:  # the parts a process does not run are never imported (the CLI starts fast)
    import uvicorn

    from poolstats.api.node import ApiNode
    from poolstats.bus import Bus
    from poolstats.cluster.jobs import Jobs
    from poolstats.service import Service
    from poolstats.store.sql import SqlStore
    from poolstats.stratum.jobs import JobSource
    from poolstats.stratum.server import StratumConfig

log = logging.getLogger(__name__)
BUS_RETRY_S = 1.0
GC_FULL_EVERY = 100  # middle-generation collections between two full ones (Python: 10)
Task = Coroutine[Any, Any, Any]


@dataclasses.dataclass(frozen=True)
class Parts:
    """The parts of one process, in the order they are built."""

    node: bool = False  # data folder, journal and engine, recovered; its flush timers run
    database: bool = False  # the store at ``store_url`` alone (a cluster role)
    bus: bool = False  # the share bus at ``bus_url``
    gateway: bool = False  # judge share batches and publish them to the bus (its HTTP app)
    partition: int | None = None  # count this partition of the bus into the store
    http: bool = False  # the HTTP API of the node, or of the store alone (``ReadNode``)
    alerts: bool = False  # the alert evaluator, unleased (one node)
    network: bool = False  # the bitcoind poller, when ``bitcoind_url`` is set
    stratum: bool = False  # the node's stratum server, when ``stratum_port`` is set
    jobs: bool = False  # settlement, alerts, poller and pruning under lease ``jobs``
    until_signal: bool = False  # SIGTERM and SIGINT end the main task (a lease is given up)


SERVE = Parts(node=True, http=True, alerts=True, network=True, stratum=True)
DEMO = dataclasses.replace(SERVE, network=False)  # the demo records its own network state
INGEST = Parts(node=True)  # ``poolstats ingest FILE``: the node's pipeline, no task
API = Parts(database=True, http=True)
JOBS = Parts(database=True, jobs=True, until_signal=True)
GATEWAY = Parts(database=True, bus=True, gateway=True, http=True, until_signal=True)


def aggregate(partition: int) -> Parts:
    return Parts(database=True, bus=True, partition=partition, until_signal=True)


class Node:
    """One process's parts and tasks; see the module docstring for the order."""

    def __init__(
        self,
        settings: Settings,
        parts: Parts,
        clock: Clock | None = None,
        start_fresh: bool = False,
        on_bus_wait: Callable[[Exception], None] | None = None,
    ) -> None:
        if sum((parts.http or parts.gateway, parts.partition is not None, parts.jobs)) > 1:
            raise ValueError(f"{parts}: one main task at most (http, partition or jobs)")
        if (parts.gateway or parts.partition is not None) and not (parts.bus and parts.database):
            raise ValueError(f"{parts}: a gateway or an aggregator needs the bus and database")
        self.settings = settings
        self.parts = parts
        self.clock = clock or SystemClock()
        self.start_fresh = start_fresh
        self.on_bus_wait = on_bus_wait or (
            lambda exc: log.warning("share bus not ready (%s); trying again", exc)
        )
        self.metrics = Metrics()
        self.service: Service | None = None
        self.store: SqlStore | None = None
        self.api_node: ApiNode | None = None
        self.jobs: Jobs | None = None
        self.stratum: tuple[JobSource, StratumConfig] | None = None
        self.bus: Bus | None = None
        self.extra: list[Task] = []  # more tasks beside the main one (the demo's fleet)
        self._close = contextlib.ExitStack()
        self._main_task: asyncio.Task[Any] | None = None
        self._server: uvicorn.Server | None = None

    @property
    def recovered_service(self) -> Service:
        """The node's ``Service`` (``Parts.node``), recovered by ``open``."""
        if self.service is None:
            raise RuntimeError("no node here: open() a Node with Parts(node=True)")
        return self.service

    # -- open: no event loop yet ---------------------------------------------------------------

    def open(self) -> Node:
        """Open the store and what needs only the store. Raises what refused (the data
        folder: ``DataFolderRefused``, ``JournalError``; a setting: ``ValueError``; the
        database: SQLAlchemy's ``OperationalError``) with everything opened closed again."""
        settings, parts = self.settings, self.parts
        with contextlib.ExitStack() as opened:
            if parts.node:
                service = self._open_service()
                opened.callback(service.close)  # the last flush and checkpoint
                self.service, self.store, self.metrics = service, service.store, service.metrics
                self.api_node = service
            elif parts.database:
                from poolstats.store import open_store

                self.store = open_store(settings.store_url, Path(settings.data_dir))
                opened.callback(self.store.close)
            store = self.store
            if parts.http and not parts.gateway and self.api_node is None and store is not None:
                from poolstats.cluster.read_node import ReadNode

                self.api_node = read = ReadNode(settings, store, self.clock)
                self.metrics = read.metrics
            if parts.jobs and store is not None:
                from poolstats.cluster.jobs import Jobs

                self.jobs = Jobs(settings, store, self.clock, metrics=self.metrics)
            if parts.stratum and settings.stratum_port and store is not None:
                from poolstats.stratum.build import job_source, stratum_config
                from poolstats.stratum.template import store_recorder

                config = stratum_config(settings)
                source = job_source(settings, store_recorder(store, self.clock, self.metrics))
                self.stratum = (source, config)
            self._close = opened.pop_all()
        return self

    def _open_service(self) -> Service:
        from poolstats.service import Service

        service = Service(self.settings, self.clock, self.start_fresh)
        try:
            service.recover()
        except BaseException:  # nothing replayed or saved: just let go of the files
            service.journal.close()
            service.store.close()
            raise
        return service

    def close(self) -> None:
        """Close what ``open`` opened, in reverse order (a node: flush and checkpoint first).
        ``run`` does it when it ends; a second call does nothing."""
        self._close.close()

    # -- run: on the event loop ----------------------------------------------------------------

    async def run(self) -> None:
        """Run the main task and those beside it until the main one ends; then stop the
        others and close every part (also when the bus never came)."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.parts.bus:
                    bus = await wait_for_bus(self.settings, self.on_bus_wait)
                    self.bus = await stack.enter_async_context(bus)
                await self._run_tasks()
        finally:
            await in_thread(self.close)

    def stop(self) -> None:
        """End the main task as a signal would (the HTTP server shuts down gracefully);
        ``run`` then stops the others and closes every part. From the node's event loop."""
        if self._server is not None:
            self._server.should_exit = True
        elif self._main_task is not None:
            self._main_task.cancel()

    async def _run_tasks(self) -> None:
        main = self._main_task = asyncio.create_task(self._main())
        beside = [asyncio.create_task(task) for task in self._beside()]
        if self.parts.until_signal:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, main.cancel)
        try:
            if self.parts.until_signal:
                with contextlib.suppress(asyncio.CancelledError):
                    await main
            else:
                await main
        finally:
            for task in reversed(beside):
                task.cancel()
            await asyncio.gather(*beside, return_exceptions=True)
            for task in beside:  # a task that ended by itself is a bug: say which and why
                if not task.cancelled() and task.exception() is not None:
                    log.error("a task beside the main one stopped", exc_info=task.exception())

    def _main(self) -> Task:
        """The task whose end ends the process."""
        settings, parts = self.settings, self.parts
        store, bus = self.store, self.bus
        if parts.gateway and store is not None and bus is not None:
            from poolstats.api.gateway import create_gateway_app
            from poolstats.cluster.gateway import Gateway, GatewayNode
            from poolstats.service import Registry

            registry = Registry(store)
            gateway = Gateway(bus, registry, self.clock.now, settings.future_s)
            node = GatewayNode(settings, self.clock, self.metrics, registry, gateway)
            self._server = http_server(settings, create_gateway_app(node), self.metrics)
            return self._server.serve()
        if parts.http and self.api_node is not None:
            from poolstats.api.app import create_app

            app = create_app(self.api_node, manage_node=False)
            self._server = http_server(settings, app, self.metrics)
            return self._server.serve()
        if parts.partition is not None and store is not None and bus is not None:
            from poolstats.cluster.aggregator import Aggregator, lease_name
            from poolstats.cluster.leaseholder import Leaseholder
            from poolstats.service import Registry

            k = parts.partition
            lease = Leaseholder(store, lease_name(k), settings.lease_ttl_s, time.time)
            state_dir = Path(settings.data_dir) / f"aggregate-{k}"
            return Aggregator(settings, store, bus, k, Registry(store), state_dir, lease).run()
        if self.jobs is not None:
            return self.jobs.run()
        raise ValueError(f"{parts}: no main task (http, gateway, partition or jobs)")

    def _beside(self) -> list[Task]:
        """The tasks that run as long as the main one, in the order they start."""
        settings, parts, store = self.settings, self.parts, self.store
        tasks: list[Task] = []
        if self.service is not None:
            tasks.append(self.service.run_timers())
        if (parts.alerts or parts.network) and store is not None:
            from poolstats.cluster.jobs import pool_jobs  # as the jobs process, unleased

            m = self.metrics
            tasks += pool_jobs(settings, store, self.clock, m, parts.alerts, parts.network)
        if self.stratum is not None and self.service is not None:
            from poolstats.stratum.build import run_node_stratum

            source, config = self.stratum
            tasks.append(run_node_stratum(settings, self.service, source, config))
        return tasks + self.extra


async def wait_for_bus(settings: Settings, on_wait: Callable[[Exception], None]) -> Bus:
    """The share bus, waited for: a role may start before NATS, or while a NATS cluster is
    still electing its leaders (it answers "timeout" for a few seconds then). ``on_wait``
    hears each refusal before the next try."""
    from poolstats.bus import BusUnavailable, open_bus

    while True:
        try:
            return await open_bus(settings.bus_url, settings)
        except BusUnavailable as exc:
            on_wait(exc)
            await asyncio.sleep(BUS_RETRY_S)


def http_server(settings: Settings, app: Any, metrics: Metrics) -> uvicorn.Server:
    """Any of poolstats' HTTP apps (a node's, a gateway's) on the settings' host and port,
    with the connection limits; it serves until SIGINT or SIGTERM (uvicorn's) or ``stop``."""
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
    return uvicorn.Server(config)
