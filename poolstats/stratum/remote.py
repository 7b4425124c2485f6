"""A stratum process apart from its node: shares go to the node's ``POST /ingest/shares``
and user names are asked of its ``GET /ingest/users/{name}``, both over HTTP (with
``bus_url`` instead, shares go straight to the share bus: ``stratum.to_bus``).

Why it is built this way (the spool and its drain: ``stratum.spooled``):
- A miner is answered once its share is safe: counted by the node (a 2xx) or on this
  machine's disk (the ``Spool``).
- A batch keeps one Idempotency-Key from its first attempt on, in the spool too, so a POST
  the node journaled but whose answer was lost counts once however often it is sent again.
- Each answer is handled for what it means (``ingest.answers.judge``): a 2xx is counted (the
  lines it refuses are the node's verdict, logged, not retried); a timeout, a 5xx, 408 or
  429 is tried again; a batch the node finds too large (413) is sent again in halves; one it
  can never take as it is (400, 415, 422, a single line too large) is set aside in the
  spool's ``refused/``; anything else (401/403: the token; 404, a redirect, a 2xx that is
  not an ingest answer: the URL) is kept and retried, and logged loudly. The token is never
  logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from poolstats.config import Settings
from poolstats.domain.accounts import validate_user_name
from poolstats.ingest.answers import Answer, Verdict, judge
from poolstats.stratum.jobs import JobSource
from poolstats.stratum.metrics import MetricsListener, StratumMetrics, listen
from poolstats.stratum.server import ShareSink, StratumConfig, StratumServer
from poolstats.stratum.spool import Spool
from poolstats.stratum.spooled import SpooledIngest, Timing
from poolstats.threads import in_thread

__all__ = ["RemoteIngest", "RemoteUsers", "StratumProcess", "Timing", "stratum_process"]

log = logging.getLogger(__name__)
NDJSON = "application/x-ndjson"


def shown(url: str) -> str:
    """The URL without a user name or password, for logs."""
    return str(httpx.URL(url).copy_with(userinfo=b""))


class RemoteIngest(SpooledIngest):
    """Batches to the node's ``POST /ingest/shares``, each with its Idempotency-Key, or to
    the spool (``SpooledIngest``: the live path, the drain)."""

    def __init__(self, url: str, token: str, spool: Spool, timing: Timing | None = None) -> None:
        super().__init__(shown(url), spool, timing)
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": NDJSON}
        self._client = httpx.Client()
        self._drain_client: httpx.AsyncClient | None = None

    def _attempt(self, body: bytes, key: str, timeout_s: float) -> Answer:
        try:
            response = self._client.post(
                self.url, content=body, headers=self._with_key(key), timeout=timeout_s
            )
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: closed at shutdown
            return Answer(Verdict.RETRY, f"{type(exc).__name__}: {exc}")
        return judge(response)

    @contextlib.asynccontextmanager
    async def _draining(self) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=self.timing.request_timeout_s) as client:
            self._drain_client = client
            try:
                yield
            finally:
                self._drain_client = None

    async def _attempt_spooled(self, body: bytes, key: str) -> Answer:
        assert self._drain_client is not None
        try:
            response = await self._drain_client.post(
                self.url, content=body, headers=self._with_key(key)
            )
        except httpx.HTTPError as exc:
            return Answer(Verdict.RETRY, f"{type(exc).__name__}: {exc}")
        return judge(response)

    def _with_key(self, key: str) -> dict[str, str]:
        return {**self._headers, "Idempotency-Key": key}

    def close(self) -> None:
        self._client.close()


class RemoteUsers:
    """Sub-accounts of login names, asked of the node. ``puid_of`` answers from the cache;
    ``resolve`` fills it before an authorize. Names are never renamed or reused, so a known
    one is kept (the newest ``capacity``); an unknown one is remembered for ``negative_s``,
    and one request per name runs at a time, so a flood of unknown names costs little."""

    def __init__(
        self,
        ingest_url: str,
        token: str,
        negative_s: float = 2.0,
        timeout_s: float = 2.0,
        capacity: int = 1_000_000,
        parallel: int = 8,
    ) -> None:
        self.ingest_url = ingest_url.rstrip("/")
        self.negative_s = negative_s
        self.timeout_s = timeout_s
        self.capacity = capacity
        self.asked = 0  # requests made to the node
        self._headers = {"Authorization": f"Bearer {token}"}
        self._known: OrderedDict[str, int] = OrderedDict()
        self._unknown: dict[str, float] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(parallel)
        self._client: httpx.AsyncClient | None = None

    def url_of(self, name: str) -> str:
        """``GET /ingest/users/{name}`` next to the ingest URL (a path prefix is kept)."""
        return str(httpx.URL(self.ingest_url).join("users/" + quote(name, safe="")))

    def puid_of(self, name: str) -> int | None:
        return self._known.get(name)

    async def resolve(self, name: str) -> None:
        if name in self._known:
            return
        at = self._unknown.get(name)
        if at is not None and time.monotonic() - at < self.negative_s:
            return
        try:
            validate_user_name(name)
        except ValueError:
            return  # no sub-account can have this name: nothing to ask
        task = self._pending.get(name)
        if task is None:
            task = asyncio.create_task(self._ask(name))
            self._pending[name] = task
            task.add_done_callback(lambda _: self._pending.pop(name, None))
        await asyncio.shield(task)  # a miner that leaves does not cancel the others' look-up

    async def _ask(self, name: str) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        async with self._slots:
            self.asked += 1
            try:
                response = await self._client.get(self.url_of(name), headers=self._headers)
            except httpx.HTTPError as exc:
                log.warning("stratum: cannot ask %s for user %r (%s: %s)",
                            shown(self.ingest_url), name, type(exc).__name__, exc)  # fmt: skip
                self._remember_unknown(name)
                return
        puid = _puid(response) if response.status_code == 200 else None
        if puid is not None:
            self._known[name] = puid
            while len(self._known) > self.capacity:
                self._known.popitem(last=False)
            return
        if response.status_code in (401, 403):
            log.error("stratum: %s refuses the ingest token (HTTP %d) for user look-ups",
                      shown(self.ingest_url), response.status_code)  # fmt: skip
        elif response.status_code != 404:
            log.warning("stratum: user %r: HTTP %d from %s", name, response.status_code,
                        shown(self.ingest_url))  # fmt: skip
        self._remember_unknown(name)

    def _remember_unknown(self, name: str) -> None:
        if len(self._unknown) > 100_000:
            self._unknown.clear()
        self._unknown[name] = time.monotonic()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _puid(response: httpx.Response) -> int | None:
    try:
        puid = response.json().get("puid")
    except (ValueError, AttributeError):
        return None
    return puid if isinstance(puid, int) and not isinstance(puid, bool) and puid > 0 else None


class Users(Protocol):
    """Where a stratum process learns sub-accounts' puids: ``RemoteUsers`` (a node) or
    ``to_bus.StoreUsers`` (the cluster's store)."""

    def puid_of(self, name: str) -> int | None: ...

    async def resolve(self, name: str) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class StratumProcess:
    """``poolstats stratum``: a stratum server whose shares and users live elsewhere (a
    node, or the share bus and the cluster's store), with metrics of its own."""

    server: StratumServer
    ingest: SpooledIngest
    users: Users
    host: str
    port: int
    metrics: StratumMetrics
    metrics_address: tuple[str, int] | None = None  # where /metrics listens, if anywhere
    listener: MetricsListener | None = None  # while it runs

    async def run(self) -> None:
        """Serve miners, drain the spool and answer /metrics until cancelled (or one of
        them fails). A /metrics address that cannot be bound stops it at once (OSError)."""
        try:
            if self.metrics_address is not None:
                self.listener = listen(self.metrics, *self.metrics_address)
            await _first_to_end(self.server.run(self.host, self.port), self.ingest.run())
        finally:
            if self.listener is not None:
                await in_thread(self.listener.close)
                self.listener = None
            await self.users.aclose()
            self.ingest.close()


def with_metrics(
    settings: Settings,
    source: JobSource,
    config: StratumConfig,
    clock: Callable[[], float],
    ingest: SpooledIngest,
    users: Users,
) -> StratumProcess:
    """The process around ``ingest`` and ``users``: its server, and its metrics (the
    server's, the spool's, the delivery's), served at ``stratum_metrics_host:port``."""
    metrics = StratumMetrics()
    metrics.watch(ingest.spool)
    ingest.attempt_seconds = metrics.post_seconds
    sink = ShareSink(ingest, config)
    server = StratumServer(
        source, users.puid_of, sink, config, clock, resolve=users.resolve, metrics=metrics
    )
    port = settings.stratum_metrics_port
    address = (settings.stratum_metrics_host, port) if port else None
    return StratumProcess(
        server, ingest, users, settings.stratum_host, settings.stratum_port, metrics, address
    )


def spool_dir(settings: Settings) -> Path:
    return Path(settings.stratum_spool_dir or Path(settings.data_dir) / "stratum-spool")


def stratum_process(
    settings: Settings,
    source: JobSource,
    config: StratumConfig,
    clock: Callable[[], float] = time.time,
    timing: Timing | None = None,
) -> StratumProcess:
    """Build it from the settings: posting to a node (``stratum_ingest_url``) or publishing
    to the share bus (``bus_url``); ``ValueError`` naming the setting when one is missing or
    wrong."""
    url = settings.stratum_ingest_url
    if url and settings.bus_url:
        raise ValueError("stratum_ingest_url (--ingest-url) and bus_url (--bus-url): give one, "
                         "not both (a node's ingest URL, or the cluster's share bus)")  # fmt: skip
    if not 0 < settings.stratum_port < 65536:
        raise ValueError("stratum_port: the port miners connect to (1 to 65535) is required")
    if not 0 <= settings.stratum_metrics_port < 65536:
        raise ValueError("stratum_metrics_port: 1 to 65535, or 0 for no /metrics")
    if settings.bus_url:
        from poolstats.stratum.to_bus import bus_stratum_process  # the cluster's parts

        return bus_stratum_process(settings, source, config, clock, timing)
    if not url:
        raise ValueError("stratum_ingest_url: the node's ingest URL is required "
                         "(e.g. http://127.0.0.1:8080/ingest/shares), or bus_url (--bus-url) "
                         "to publish to the cluster's share bus")  # fmt: skip
    if httpx.URL(url).scheme not in ("http", "https"):
        raise ValueError(f"stratum_ingest_url: an http:// or https:// URL, not {shown(url)!r}")
    if not settings.ingest_token:
        raise ValueError("ingest_token: required to post shares to the node")
    spool = Spool(spool_dir(settings), settings.stratum_spool_max_bytes)
    ingest = RemoteIngest(url, settings.ingest_token, spool, timing)
    users = RemoteUsers(url, settings.ingest_token)
    return with_metrics(settings, source, config, clock, ingest, users)


async def run_stratum_process(settings: Settings, source: JobSource, config: StratumConfig) -> None:
    """Run ``poolstats stratum`` until cancelled."""
    await stratum_process(settings, source, config).run()


async def _first_to_end(*work: Coroutine[Any, Any, None]) -> None:
    """Run until cancelled or until one ends; the others are then cancelled and the first
    failure is raised as it is (not wrapped in a group)."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
