"""``poolstats stratum --bus-url``: a stratum front end publishing its shares straight to the
share bus, as a gateway does, and reading user names from the cluster's store.

Why it is built this way:
- One way onto the bus. Each batch goes through ``cluster.gateway.Gateway``, the code a
  gateway runs: judged as a node judges it, cut per partition, published under the ids
  ``{key}.{partition}.{record}``, and counted only once JetStream has acknowledged every
  record. A stratum process is a gateway without the HTTP hop.
- The same guarantees as posting to a node (``stratum.spooled``): a miner is answered once
  JetStream has the batch or once it is on this machine's disk; the bus unreachable or slow
  (no acknowledgement within ``Timing.live_s``) means the spool, drained oldest first when
  the bus is back. A batch keeps its key from the first attempt on, so a publish whose
  acknowledgement was lost (nats-server gone mid-publish, a cut connection) is published
  again under the same ids and JetStream stores it once. That holds within
  ``bus_dedupe_window_s`` of the first copy: a bus outage longer than the window, during
  which such a batch waits in the spool, may count it twice. Size the window for the
  outages to ride through (docs/cluster.md).
- The bus is connected in the background: miners are served, and their shares spooled,
  from the start, also while NATS is down (a site restarting in any order).
- User names come from the store, read-only, through the ``service.Registry`` a gateway
  uses, rather than from a gateway over HTTP. Judging a batch needs the store already
  (whether a puid exists), so reading names there adds no dependency, while asking a
  gateway would add one: authorizations would stop whenever no gateway answers, though
  shares would flow. The registry holds every name in memory (names are never renamed or
  reused); a PostgreSQL outage stops only names new since the start from authorizing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from poolstats.bus import Bus, BusError, BusUnavailable, is_nats_url, open_bus
from poolstats.cluster.gateway import Gateway
from poolstats.config import Settings
from poolstats.domain.accounts import validate_user_name
from poolstats.ingest.answers import Answer, Verdict
from poolstats.ingest.columnar import BatchError
from poolstats.ingest.pipeline import Format
from poolstats.service import Registry
from poolstats.store import open_store
from poolstats.store.sql import SqlStore
from poolstats.stratum.jobs import JobSource
from poolstats.stratum.remote import StratumProcess, shown, spool_dir, with_metrics
from poolstats.stratum.server import StratumConfig
from poolstats.stratum.spool import Spool
from poolstats.stratum.spooled import SpooledIngest, Timing
from poolstats.threads import in_thread

log = logging.getLogger(__name__)
NOT_YET = "not connected yet"


class BusIngest(SpooledIngest):
    """Batches to the share bus through a ``Gateway``, or to the spool (``SpooledIngest``).
    The drain (``run``) connects to the bus first; until it has, batches are spooled."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        clock: Callable[[], float],
        spool: Spool,
        timing: Timing | None = None,
    ) -> None:
        servers = ",".join(shown(s.strip()) for s in settings.bus_url.split(",") if s.strip())
        super().__init__(f"the share bus {servers}", spool, timing)
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self._gateway: Gateway | None = None
        self._problem = NOT_YET  # miners are served before the bus answers: to the spool

    @contextlib.asynccontextmanager
    async def _draining(self) -> AsyncIterator[None]:
        bus = await self._connect()
        try:
            self._gateway = Gateway(bus, self.registry, self.clock, self.settings.future_s)
            with self._lock:
                self._problem = None
            log.warning("stratum: publishing to %s (%d partitions)", self.where, bus.partitions)
            yield
        finally:
            self._gateway = None
            await bus.close()

    async def _connect(self) -> Bus:
        """The bus, waited for (NATS may start after this process, or be electing leaders).
        An error other than "unreachable" (a stream set up otherwise) ends the process."""
        delay = self.timing.first_backoff_s
        while True:
            try:
                return await open_bus(self.settings.bus_url, self.settings)
            except BusUnavailable as exc:
                self._trouble(Answer(Verdict.RETRY, f"{NOT_YET}: {exc}"))
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.timing.max_backoff_s)

    def _attempt(self, body: bytes, key: str, timeout_s: float) -> Answer:
        loop, gateway = self._loop, self._gateway
        if loop is None or gateway is None:
            return Answer(Verdict.RETRY, NOT_YET)
        try:
            future = asyncio.run_coroutine_threadsafe(self._publish(gateway, body, key), loop)
        except RuntimeError:  # the loop is closed: shutting down
            return Answer(Verdict.RETRY, "shutting down")
        try:
            return future.result(timeout_s)
        except TimeoutError:
            # Perhaps stored, its acknowledgement not yet come: spooled and published again
            # under the same ids, which the bus stores once.
            future.cancel()
            return Answer(Verdict.RETRY, f"no acknowledgement within {timeout_s:.1f} s")
        except concurrent.futures.CancelledError:
            return Answer(Verdict.RETRY, "shutting down")

    async def _attempt_spooled(self, body: bytes, key: str) -> Answer:
        gateway = self._gateway
        if gateway is None:
            return Answer(Verdict.RETRY, NOT_YET)
        try:
            return await asyncio.wait_for(
                self._publish(gateway, body, key), self.timing.request_timeout_s
            )
        except TimeoutError:
            return Answer(Verdict.RETRY, "no acknowledgement in time")

    async def _publish(self, gateway: Gateway, body: bytes, key: str) -> Answer:
        """One batch through the gateway's code, its outcome as an ``Answer``."""
        try:
            result = await gateway.ingest(body, Format.NDJSON, key)
        except BatchError as exc:  # never from this process's own NDJSON, but kept if so
            return Answer(Verdict.REFUSED, f"unreadable batch: {exc}")
        except BusUnavailable as exc:
            return Answer(Verdict.RETRY, str(exc))
        except BusError as exc:  # the stream itself is wrong: an operator must look
            return Answer(Verdict.HOLD, str(exc))
        except Exception as exc:  # the store (a puid looked up) or else: not all published
            return Answer(Verdict.RETRY, f"{type(exc).__name__}: {exc}")
        return Answer(Verdict.COUNTED, body=result.as_json())


class StoreUsers:
    """Sub-accounts of login names, read from the cluster's store (which it closes last).
    ``puid_of`` answers from memory; ``resolve`` asks the store, in a thread, for a name not
    seen yet, a few at a time (the registry remembers unknown names for a moment, so a
    flood of them costs one query each)."""

    def __init__(self, store: SqlStore, parallel: int = 4) -> None:
        self.store = store
        self.registry = Registry(store)
        self._slots = asyncio.Semaphore(parallel)

    def puid_of(self, name: str) -> int | None:
        return self.registry.known(name)

    async def resolve(self, name: str) -> None:
        if self.registry.known(name) is not None:
            return
        try:
            validate_user_name(name)
        except ValueError:
            return  # no sub-account can have this name: nothing to ask
        async with self._slots:
            try:
                await in_thread(self.registry.puid_of, name)
            except Exception as exc:  # the store is down: the miner is told "unknown user"
                log.warning("stratum: cannot look user %r up in the store (%s: %s)",
                            name, type(exc).__name__, exc)  # fmt: skip

    async def aclose(self) -> None:
        await in_thread(self.store.close)


def bus_stratum_process(
    settings: Settings,
    source: JobSource,
    config: StratumConfig,
    clock: Callable[[], float],
    timing: Timing | None = None,
) -> StratumProcess:
    """Build it from the settings (``bus_url`` set); ``ValueError`` naming the setting when
    one is missing or wrong. Opens the store, which must answer now."""
    if not is_nats_url(settings.bus_url):
        raise ValueError(f"bus_url: nats://host:4222[,...], not {settings.bus_url!r}")
    if not settings.store_url:
        raise ValueError("store_url (--store-url): required with bus_url, the cluster's "
                         "PostgreSQL store, where user names are read "
                         "(postgresql://user@host:5432/db)")  # fmt: skip
    spool = Spool(spool_dir(settings), settings.stratum_spool_max_bytes)
    users = StoreUsers(open_store(settings.store_url, Path(settings.data_dir)))
    ingest = BusIngest(settings, users.registry, clock, spool, timing)
    return with_metrics(settings, source, config, clock, ingest, users)
