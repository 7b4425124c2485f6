"""A stratum process apart from its node: shares go to the node's ``POST /ingest/shares``
and user names are asked of its ``GET /ingest/users/{name}``, both over HTTP.

Why it is built this way:
- A miner is answered once its share is safe: counted by the node (a 2xx) or on this
  machine's disk (the ``Spool``). A batch is tried for ``Timing.live_s`` at the most, since
  miners wait for their answers, then spooled. While the node is known not to take batches,
  new ones go to the spool at once: miners wait for an fsync, not for timeouts.
- A batch keeps one Idempotency-Key from its first attempt on, in the spool too, so a POST
  the node journaled but whose answer was lost counts once however often it is sent again.
- The drain sends spooled batches oldest first (a spool left by an earlier run included)
  and deletes each only after a 2xx; while the node is down it backs off.
- Each answer is handled for what it means: a 2xx is counted (the lines it refuses are the
  node's verdict, logged, not retried); a timeout, a 5xx, 408 or 429 is tried again; a
  batch the node finds too large (413) is sent again in halves; one it can never take as it
  is (400, 415, 422, a single line too large) is set aside in the spool's ``refused/``;
  anything else (401/403: the token; 404, a redirect, a 2xx that is not an ingest answer:
  the URL) is kept and retried, and logged loudly. The token is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from poolstats.config import Settings
from poolstats.domain.accounts import validate_user_name
from poolstats.ingest.answers import Answer, Verdict, judge, refused_count
from poolstats.ingest.idempotency import MAX_KEY
from poolstats.stratum.jobs import JobSource
from poolstats.stratum.server import ShareSink, StratumConfig, StratumServer
from poolstats.stratum.spool import Spool

log = logging.getLogger(__name__)
NDJSON = "application/x-ndjson"
RETRY_AFTER_CAP_S = 60.0  # a Retry-After longer than this is not waited for in full
LOG_REFUSALS_EVERY_S = 60.0


@dataclass(frozen=True)
class Timing:
    live_s: float = 2.0  # a batch is tried this long before it is spooled (miners wait)
    first_backoff_s: float = 0.05  # doubled after each failure
    max_backoff_s: float = 5.0  # the drain's longest wait while the node is down
    request_timeout_s: float = 30.0  # one drain POST (a big batch, a busy journal)
    parallel: int = 4  # drain POSTs at once (the node takes 4 batches at a time)


def shown(url: str) -> str:
    """The URL without a user name or password, for logs."""
    return str(httpx.URL(url).copy_with(userinfo=b""))


class RemoteIngest:
    """``ShareSink``'s ``ingest``: one NDJSON batch to the node, or to the spool; ``run`` is
    the drain. Call from one thread at a time (the sink's worker thread)."""

    def __init__(self, url: str, token: str, spool: Spool, timing: Timing | None = None) -> None:
        self.url = url
        self.spool = spool
        self.timing = timing or Timing()
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": NDJSON}
        self._client = httpx.Client()
        self._lock = threading.Lock()
        self._problem: str | None = None  # set while the node does not take batches
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._refusals_logged_at = -LOG_REFUSALS_EVERY_S
        self.posted = 0  # batches the node counted when first sent
        self.spooled = 0  # batches written to the spool
        self.drained = 0  # spooled batches the node counted (their files are deleted)
        self.halved = 0  # spooled batches the node found too large, replaced by halves
        self.set_aside = 0  # spooled batches moved to refused/
        self.refused_lines = 0  # share events the node refused in batches it counted

    # -- the live path (a worker thread) ------------------------------------------------------

    def __call__(self, body: bytes) -> None:
        key = uuid.uuid4().hex
        answer = Answer(Verdict.RETRY, self._problem or "")
        if self._problem is None:  # else the node is known down: straight to disk
            answer = self._send_now(body, key)
            if answer.verdict is Verdict.COUNTED:
                self.posted += 1
                return
        self.spool.write(key, body)  # raises when full: the miners are not told it is safe
        self.spooled += 1
        if answer.verdict is Verdict.RETRY or answer.verdict is Verdict.HOLD:
            self._trouble(answer)  # else the node is fine, only this batch is not: the drain
            # halves a batch that is too large and sets aside one it can never take
        self._wake_drain()

    def _send_now(self, body: bytes, key: str) -> Answer:
        deadline = time.monotonic() + self.timing.live_s
        delay = self.timing.first_backoff_s
        while True:
            timeout = max(deadline - time.monotonic(), 0.05)
            try:
                response = self._client.post(
                    self.url, content=body, headers=self._with_key(key), timeout=timeout
                )
            except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: closed at shutdown
                answer = Answer(Verdict.RETRY, f"{type(exc).__name__}: {exc}")
            else:
                answer = self._answered(response)
            if answer.verdict is not Verdict.RETRY:
                return answer
            wait = min(answer.retry_after_s, RETRY_AFTER_CAP_S) if answer.retry_after_s else 0.0
            wait = max(wait, delay)
            if time.monotonic() + wait >= deadline:
                return answer
            time.sleep(wait)  # a backoff between attempts, bounded by live_s
            delay *= 2

    # -- the drain (the event loop) -----------------------------------------------------------

    async def run(self) -> None:
        """Send spooled batches, oldest first, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        delay = self.timing.first_backoff_s
        async with httpx.AsyncClient(timeout=self.timing.request_timeout_s) as client:
            while True:
                self._wake.clear()  # before listing: a batch spooled later wakes the wait
                paths = await asyncio.to_thread(self.spool.batches)
                if not paths:
                    await self._wake.wait()
                    continue
                try:
                    stalled = await self._send_spooled(client, paths)
                except OSError:  # the spool's disk: try again, never stop draining
                    log.exception("stratum: the spool %s failed", self.spool.directory)
                    stalled = 0.0
                if stalled is None:
                    delay = self.timing.first_backoff_s
                    continue
                wait = max(stalled, delay) * random.uniform(0.8, 1.2)  # no lockstep with peers
                await asyncio.sleep(wait)  # the node is down: back off
                delay = min(delay * 2, self.timing.max_backoff_s)

    async def _send_spooled(self, client: httpx.AsyncClient, paths: list[Path]) -> float | None:
        """Send ``paths`` a few at a time; None once all are done, else how long to wait.

        While the node is known not to take batches, one batch goes at a time: a probe. More
        would only fail together, and a node counts each failure against this address (a
        wrong token 20 times a minute and it answers 429 for the rest of the minute, also
        once the token is right again)."""
        step = 1 if self._problem is not None else self.timing.parallel
        for start in range(0, len(paths), step):
            waits = await asyncio.gather(
                *(self._send_one(client, p) for p in paths[start : start + step])
            )
            pending = [w for w in waits if w is not None]
            if pending:
                return max(pending)
        return None

    async def _send_one(self, client: httpx.AsyncClient, path: Path) -> float | None:
        try:
            key, body = await asyncio.to_thread(self.spool.read, path)
        except FileNotFoundError:
            return None
        try:
            response = await client.post(self.url, content=body, headers=self._with_key(key))
        except httpx.HTTPError as exc:
            self._trouble(Answer(Verdict.RETRY, f"{type(exc).__name__}: {exc}"))
            return 0.0
        answer = self._answered(response)
        if answer.verdict is Verdict.COUNTED:
            self.drained += 1
            await asyncio.to_thread(self.spool.remove, path)
            return None
        if answer.verdict is Verdict.TOO_LARGE:
            if await asyncio.to_thread(self._split, path, key, body):
                return None
            answer = Answer(Verdict.REFUSED, answer.why)  # one line: nothing smaller to send
        if answer.verdict is Verdict.REFUSED:
            self.set_aside += 1
            kept = await asyncio.to_thread(self.spool.refuse, path)
            log.error("stratum: the node refused a spooled batch for good (%s); it is kept "
                      "in %s and will not be sent again", answer.why, kept)  # fmt: skip
            return None
        self._trouble(answer)
        return min(answer.retry_after_s or 0.0, RETRY_AFTER_CAP_S)

    def _split(self, path: Path, key: str, body: bytes) -> bool:
        """Replace a batch the node finds too large by its two halves, under keys made from
        its own: split again after a crash, the same halves get the same keys."""
        lines = body.splitlines(keepends=True)
        if len(lines) < 2 or len(key) + 2 > MAX_KEY:
            return False
        middle = len(lines) // 2
        self.spool.write(key + "-1", b"".join(lines[:middle]))
        self.spool.write(key + "-2", b"".join(lines[middle:]))
        self.spool.remove(path)
        self.halved += 1
        return True

    def _wake_drain(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
                loop.call_soon_threadsafe(wake.set)

    # -- answers and state --------------------------------------------------------------------

    def _with_key(self, key: str) -> dict[str, str]:
        return {**self._headers, "Idempotency-Key": key}

    def _answered(self, response: httpx.Response) -> Answer:
        answer = judge(response)
        if answer.verdict is Verdict.COUNTED:
            self._recovered()
            assert answer.body is not None
            self._note_refusals(answer.body)
        return answer

    def _trouble(self, answer: Answer) -> None:
        """The node did not take a batch: the next ones go straight to the spool."""
        with self._lock:
            changed = answer.why != self._problem
            self._problem = answer.why or "no answer"
        if changed:
            level = logging.ERROR if answer.verdict is Verdict.HOLD else logging.WARNING
            log.log(level, "stratum: %s does not take shares (%s); they are kept in %s until "
                    "it does", shown(self.url), self._problem, self.spool.directory)  # fmt: skip

    def _recovered(self) -> None:
        with self._lock:
            was, self._problem = self._problem, None
        if was is not None:
            log.warning("stratum: %s takes shares again", shown(self.url))

    def _note_refusals(self, body: dict[str, Any]) -> None:
        """Lines the node refused are its verdict (a clock ahead of the node's, a bound):
        sending them again cannot change it, so they are counted and logged."""
        refused = refused_count(body)
        if refused <= 0:
            return
        with self._lock:
            self.refused_lines += refused
            now = time.monotonic()
            if now - self._refusals_logged_at < LOG_REFUSALS_EVERY_S:
                return
            self._refusals_logged_at = now
            total = self.refused_lines
        errors = body.get("errors") or [{}]
        first = errors[0].get("error", "?") if isinstance(errors[0], dict) else "?"
        log.warning("stratum: the node refused %d share(s) of a batch (%s); %d so far",
                    refused, first, total)  # fmt: skip

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


@dataclass
class StratumProcess:
    """``poolstats stratum``: a stratum server whose shares and users live on a node."""

    server: StratumServer
    ingest: RemoteIngest
    users: RemoteUsers
    host: str
    port: int

    async def run(self) -> None:
        """Serve miners and drain the spool until cancelled (or one of them fails)."""
        try:
            await _first_to_end(self.server.run(self.host, self.port), self.ingest.run())
        finally:
            await self.users.aclose()
            self.ingest.close()


def spool_dir(settings: Settings) -> Path:
    return Path(settings.stratum_spool_dir or Path(settings.data_dir) / "stratum-spool")


def stratum_process(
    settings: Settings,
    source: JobSource,
    config: StratumConfig,
    clock: Callable[[], float] = time.time,
    timing: Timing | None = None,
) -> StratumProcess:
    """Build it from the settings; ``ValueError`` naming the setting when one is missing."""
    url = settings.stratum_ingest_url
    if not url:
        raise ValueError("stratum_ingest_url: the node's ingest URL is required "
                         "(e.g. http://127.0.0.1:8080/ingest/shares)")  # fmt: skip
    if httpx.URL(url).scheme not in ("http", "https"):
        raise ValueError(f"stratum_ingest_url: an http:// or https:// URL, not {shown(url)!r}")
    if not settings.ingest_token:
        raise ValueError("ingest_token: required to post shares to the node")
    if not 0 < settings.stratum_port < 65536:
        raise ValueError("stratum_port: the port miners connect to (1 to 65535) is required")
    spool = Spool(spool_dir(settings), settings.stratum_spool_max_bytes)
    ingest = RemoteIngest(url, settings.ingest_token, spool, timing)
    users = RemoteUsers(url, settings.ingest_token)
    sink = ShareSink(ingest, config)
    server = StratumServer(source, users.puid_of, sink, config, clock, resolve=users.resolve)
    return StratumProcess(server, ingest, users, settings.stratum_host, settings.stratum_port)


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
