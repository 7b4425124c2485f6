"""The stratum server: asyncio connections, job broadcasts, and shares into the engine.

Why it is built this way:
- Each connection is a coroutine reading bounded lines (``MAX_LINE`` bytes); nothing a
  client sends can grow the server's memory without bound, and a slow reader whose send
  buffer passes ``MAX_BUFFERED`` is dropped rather than buffered for. One sweeper closes
  idle connections (a timer per read would cost every share more than its check).
- A submit is answered once its share event is in the ingest journal, so an accepted share
  is never lost between the front end and the engine. ``ShareSink`` commits in groups: the
  events that arrive while one ingest runs go in the next, so batches grow with the load
  and an idle server journals at once. Its queue is bounded, so a flood waits
  (backpressure) instead of piling up.
- A job broadcast yields to the loop every ``BROADCAST_CHUNK`` connections, so tens of
  thousands of idle miners never hold up a submit for long.
- A client whose requests are mostly malformed or refused (a score: +1 for each, -1 for each
  good one, so an honest miner's occasional reject never adds up) is disconnected and its
  address banned for ``ban_s``.
- A closed connection's session is kept for ``resume_s``, so a miner reconnecting with its
  subscription id continues it (same extranonce1, difficulty and jobs in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import msgspec

from poolstats.domain.share import ShareEvent
from poolstats.stratum import protocol
from poolstats.stratum.jobs import Entry, JobBook, JobSource, first_template
from poolstats.stratum.metrics import ServerMetrics
from poolstats.stratum.session import Limits, Outcome, Session
from poolstats.stratum.shares import Code
from poolstats.threads import in_thread

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024
MAX_BUFFERED = 256 * 1024
BROADCAST_CHUNK = 256
LISTEN_BACKLOG = 4096  # a pool restart brings thousands of miners back at once


@dataclass(frozen=True)
class StratumConfig:
    limits: Limits = field(default_factory=Limits)
    idle_s: float = 600.0  # no request for this long: disconnected
    job_refresh_s: float = 30.0  # a new job at least this often (miners stall without one)
    ban_after: int = 20  # the bad-request score (see above) at which an address is banned
    ban_s: float = 600.0
    resume_s: float = 600.0  # how long a closed session may be resumed
    max_parked: int = 100_000  # closed sessions kept for resuming, at most
    batch_window_s: float = 0.0  # extra wait to gather events into one journaled ingest
    max_queued_shares: int = 100_000


class ShareSink:
    """Share events into the ingest pipeline in group commits; ``put`` returns once its
    events are journaled (the pipeline's own durability)."""

    def __init__(self, ingest: Callable[[bytes], Any], config: StratumConfig) -> None:
        self._ingest = ingest
        self._config = config
        self._encoder = msgspec.json.Encoder()
        self._lines: list[bytes] = []  # the open batch, NDJSON lines
        self._done: asyncio.Future[None] | None = None  # resolved when it is journaled
        self._waiting = asyncio.Event()  # the open batch has events
        self._room = asyncio.Event()  # the open batch is below max_queued_shares
        self._room.set()
        self.journaled = 0

    async def put(self, events: list[ShareEvent]) -> None:
        while len(self._lines) >= self._config.max_queued_shares:
            self._room.clear()
            await self._room.wait()
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        done = self._done
        self._lines.extend(self._encoder.encode(e) + b"\n" for e in events)
        self._waiting.set()
        await asyncio.shield(done)  # a miner gone meanwhile must not cancel the others' wait

    async def run(self) -> None:
        while True:
            await self._waiting.wait()
            if self._config.batch_window_s:
                await asyncio.sleep(self._config.batch_window_s)
            lines, done = self._lines, self._done
            self._lines, self._done = [], None
            self._waiting.clear()
            self._room.set()
            assert done is not None
            try:
                await in_thread(self._ingest, b"".join(lines))
            except Exception as exc:  # the journal failed: the miners get an error, not a lie
                log.exception("stratum shares could not be journaled")
                done.set_exception(exc)
                done.exception()  # retrieved here: every waiter may have gone
                continue
            self.journaled += len(lines)
            done.set_result(None)


class StratumServer:
    def __init__(
        self,
        source: JobSource,
        puid_of: Callable[[str], int | None],
        sink: ShareSink,
        config: StratumConfig,
        clock: Callable[[], float] = time.time,
        resolve: Callable[[str], Awaitable[None]] | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        """``puid_of`` answers from what is known at once; ``resolve``, when given, is awaited
        before an authorize so that it can learn a user name first (a separate stratum
        process asks its node)."""
        self.source = source
        self.puid_of = puid_of
        self.resolve = resolve
        self.metrics = metrics
        self.sink = sink
        self.config = config
        self.clock = clock
        self.jobs = JobBook()
        self.sessions: dict[Session, asyncio.StreamWriter] = {}
        self.banned: dict[str, float] = {}
        self._parked: OrderedDict[str, tuple[Session, float]] = OrderedDict()
        self._extranonce = itertools.count(int.from_bytes(os.urandom(3), "big") << 8)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeping = False

    def new_job(self, clean: bool) -> None:
        """A new job (or block) for every subscribed miner, with any difficulty vardiff
        finds due."""
        now = self.clock()
        entry = self.jobs.add(self.source.job(self.jobs.next_id(), int(now)), clean)
        self._spawn(self._broadcast(entry, now))

    async def _broadcast(self, entry: Entry, now: float) -> None:
        for i, (session, writer) in enumerate(list(self.sessions.items())):
            if i % BROADCAST_CHUNK == BROADCAST_CHUNK - 1:
                await asyncio.sleep(0)  # submits waiting meanwhile are answered
            if session.subscribed and session in self.sessions:
                session.tick(now)
                self._send(session, writer, session.job_lines(entry))

    async def _sweep_idle(self) -> None:
        """Close connections silent for ``idle_s`` (checked every quarter of it)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.config.idle_s / 4, 30.0))
            cutoff = loop.time() - self.config.idle_s
            for session, writer in list(self.sessions.items()):
                if session.last_seen < cutoff:
                    writer.transport.abort()  # close() would wait for its unread buffer

    def _count_submit(self, outcome: Outcome, read_at: float) -> None:
        assert self.metrics is not None
        result = "accepted" if outcome.code is None else outcome.code.name.lower()
        self.metrics.stratum_submits.labels(result).inc()
        self.metrics.stratum_submit_seconds.observe(time.perf_counter() - read_at)

    def _park(self, session: Session) -> None:
        now = self.clock()
        self._parked[session.extranonce1.hex()] = (session, now)
        while self._parked:
            _, (_, closed_at) = next(iter(self._parked.items()))
            if (
                len(self._parked) <= self.config.max_parked
                and now - closed_at < self.config.resume_s
            ):
                break
            self._parked.popitem(last=False)

    def _unpark(self, session_id: str) -> Session | None:
        parked = self._parked.pop(session_id, None)
        if parked is None or self.clock() - parked[1] >= self.config.resume_s:
            return None
        return parked[0]

    def _ban(self, ip: str) -> None:
        now = self.clock()
        for address in [a for a, until in self.banned.items() if until <= now]:
            del self.banned[address]
        self.banned[ip] = now + self.config.ban_s
        if self.metrics is not None:
            self.metrics.stratum_bans.inc()
        log.info("stratum: banned %s for %g s", ip, self.config.ban_s)

    def _send(self, session: Session, writer: asyncio.StreamWriter, lines: list[bytes]) -> None:
        if writer.transport.get_write_buffer_size() > MAX_BUFFERED:
            log.info("stratum: dropping %s, it does not read what it is sent", session.ip)
            writer.transport.abort()  # close() would wait to send the buffer first
            return
        writer.write(b"".join(lines))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        """Listen; the source must be able to make a job (see ``first_template``)."""
        if self.jobs.current is None:
            self.new_job(clean=True)
        if not self._sweeping:
            self._sweeping = True
            self._spawn(self._sweep_idle())
        return await asyncio.start_server(
            self._client, host, port, limit=MAX_LINE, backlog=LISTEN_BACKLOG
        )

    async def run(self, host: str, port: int) -> None:
        """Serve until cancelled: connections, the share sink, job refreshes and the job
        source's watch for new blocks. Miners are taken once there is work for them."""
        await first_template(self.source)
        server = await self.serve(host, port)
        async with server:
            await asyncio.gather(
                self.sink.run(),
                self.refresh_jobs(),
                self.source.watch(lambda: self.new_job(clean=True)),
            )

    async def refresh_jobs(self) -> None:
        while True:
            await asyncio.sleep(self.config.job_refresh_s)
            self.new_job(clean=False)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        ip = peer[0] if isinstance(peer, tuple) else ""
        banned_until = self.banned.get(ip)
        if banned_until is not None:
            if banned_until > self.clock():
                writer.close()
                return
            del self.banned[ip]
        extranonce1 = (next(self._extranonce) & 0xFFFFFFFF).to_bytes(4, "big")
        session = Session(
            extranonce1, self.jobs, self.config.limits, self.puid_of, ip, self._unpark
        )
        loop = asyncio.get_running_loop()
        session.last_seen = loop.time()
        self.sessions[session] = writer
        if self.metrics is not None:
            self.metrics.stratum_connections.set(len(self.sessions))
        score = 0
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    break  # a line longer than MAX_LINE
                if not line:
                    break
                if not line.strip():
                    continue
                read_at = time.perf_counter()
                session.last_seen = loop.time()
                try:
                    request = protocol.decode(line)
                except protocol.ProtocolError as exc:
                    self._send(session, writer, [protocol.error(None, Code.OTHER, str(exc))])
                    bad = True
                else:
                    if self.resolve is not None and request.method == "mining.authorize":
                        login = request.params[0] if request.params else None
                        if isinstance(login, str):
                            await self.resolve(login.partition(".")[0])
                    outcome = session.handle(request, self.clock())
                    if outcome.found is not None:  # a block: sent at once, not after the journal
                        self._spawn(self.source.submit(outcome.found))
                    if outcome.shares:
                        try:
                            await self.sink.put(outcome.shares)
                        except Exception:  # not stored (journal or spool failed): no "true"
                            message = "share not stored; try again"
                            self._send(
                                session, writer, [protocol.error(request.id, Code.OTHER, message)]
                            )
                            continue
                    self._send(session, writer, outcome.lines)
                    bad = outcome.bad
                    if self.metrics is not None and request.method == "mining.submit":
                        self._count_submit(outcome, read_at)
                score = score + 1 if bad else max(0, score - 1)
                if score >= self.config.ban_after:
                    self._ban(ip)
                    break
                if writer.is_closing():
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            del self.sessions[session]
            if self.metrics is not None:
                self.metrics.stratum_connections.set(len(self.sessions))
            if session.subscribed:
                self._park(session)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
