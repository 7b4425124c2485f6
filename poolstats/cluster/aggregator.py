"""``poolstats aggregate --partition K``: one partition of the share bus, counted and stored.

Exactly once, whatever fails. The active aggregator of a partition (the holder of lease
``aggregate/K``) writes each flush in one store transaction with the stream sequence of the
newest batch it holds (``partition_seq_key(K)``) and the lease check, and acknowledges the bus
only after that commit. A batch is thus either in the store with its sequence, or still on the
bus after that sequence, never both and never neither. After a restart or a take-over the
engine is whatever it holds (a local checkpoint, or a standby's live state) at sequence C, the
store holds history through H >= C, and the stream is read again after C: batches up to H
count in the realtime windows only (their history is stored), later ones in both.

A standby follows the same partition without acknowledging, but applies only what the active
one has already stored (sequence <= H, read from the store each second), so at take-over it is
at most one flush behind and nothing it holds is missing from the store's history.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy.typing as npt
import sqlalchemy as sa

from poolstats.bus.base import Bus, BusError, Delivery, Subscription
from poolstats.cluster.leaseholder import Leaseholder
from poolstats.config import Settings
from poolstats.engine.engine import Engine, EngineConfig
from poolstats.engine.snapshot import Flush
from poolstats.ingest.pipeline import Format, Ingestor, Subaccounts
from poolstats.metrics import Metrics
from poolstats.store import checkpoint, leases
from poolstats.store.ports.stats import FlushWriter, StatsPort
from poolstats.threads import in_thread

log = logging.getLogger(__name__)

# Batches per fetch. A partition's record of a large batch is up to a MiB, and the server
# sends a whole pull at once: 256 of them overran its 64 MiB buffer for a client busy
# counting, and it cut the aggregator off as a slow consumer (bench/cluster.py).
FETCH_MAX = 16
STORED_SEQ_POLL_S = 1.0  # how often a standby reads how far the active one has stored
RETRY_S = 1.0  # after the store or the bus could not be reached


def _next_flush(due: float, interval: float, now: float) -> float:
    """When the flush after one due at ``due`` (and done at ``now``) is due: an interval after
    the last one started, however long it took. Timed from its end instead, a share would wait
    up to the interval plus two flushes for its commit (the store lag), and a large flush makes
    the cadence drift. A flush that took longer than the interval leaves a quarter of one to
    read the bus before the next."""
    return max(due + interval, now + interval / 4)


def lease_name(partition: int) -> str:
    return f"aggregate/{partition}"


@dataclass
class State:
    """What the aggregator reports (``/healthz``, ``/metrics``, the dashboard)."""

    partition: int
    active: bool = False
    applied_seq: int = 0  # newest batch counted in the engine
    stored_seq: int = 0  # newest batch whose history is in the store (H)
    last_flush_at: float = 0.0
    lag: int = 0  # batches on the bus not yet acknowledged
    flush_error: str | None = None
    took_over_at: list[float] = field(default_factory=list)


class Aggregator:
    def __init__(
        self,
        settings: Settings,
        store: StatsPort,
        bus: Bus,
        partition: int,
        subaccounts: Subaccounts,
        state_dir: Path,
        lease: Leaseholder,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.partition = partition
        self.state_dir = state_dir
        self.lease = lease
        self.metrics = metrics or Metrics()
        self.writer = FlushWriter(partition, self._fence)
        self.engine = Engine(EngineConfig(active_s=settings.active_s))
        self.ingestor = Ingestor(self.engine, _NoJournal(), subaccounts, time.time)
        self.state = State(partition)
        self._unwritten: list[Flush] = []
        self._held_back: collections.deque[Delivery] = collections.deque()
        # The stored sequence as of this process's own last write (or take-over): what its
        # queued flushes and undrained history follow on from. None before it was active.
        self._own_seq: int | None = None
        self._own_epoch = 0  # the lease's epoch then: another holder since would raise it

    def _fence(self, conn: sa.Connection) -> None:
        """A flush's guard: still the lease's holder, at the epoch it was taken with."""
        if not self.lease.held:
            raise leases.LeaseLost(f"lease {self.lease.name!r}: not held")
        leases.check(conn, self.lease.name, self.lease.holder, self.lease.epoch)

    # -- start --------------------------------------------------------------------------------

    def restore(self) -> None:
        """The local checkpoint, when there is one (else an empty engine): the stream is then
        read after its seq."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        saved = checkpoint.load(self.state_dir)
        config = self.engine.config
        self.engine = Engine.restore(saved, config) if saved is not None else Engine(config)
        self.ingestor.engine = self.engine
        self.state.applied_seq = self.engine.seq
        self.state.stored_seq = self.store.history_seq(self.writer.seq_key)
        self._unwritten.clear()
        self._own_seq = None

    def _load_open_buckets(self) -> None:
        """The workers' open history buckets of this partition as the store holds them (the
        engine keeps them only while it counts history: not from a checkpoint, not as a
        standby), as ``Service.recover`` does for a node."""
        for period_s in self.engine.config.worker_periods:
            start, puids, names, sums = self.store.open_buckets(
                period_s, (self.partition, self.settings.partitions)
            )
            if puids:
                self.engine.load_open(period_s, start, puids, names, sums)

    def _apply(self, d: Delivery) -> None:
        """Count one batch: in the history too unless the store has its history already."""
        history = d.seq > self.state.stored_seq
        self.ingestor.replay(d.payload, Format.COLUMNAR, d.seq, history)
        self.state.applied_seq = d.seq

    # -- the two modes ------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow as a standby; whenever the lease is ours, count and store as the active one.
        A store or bus that cannot be reached is waited for; what was counted is kept."""
        await in_thread(self.restore)
        leasing = asyncio.create_task(self.lease.run())
        try:
            while True:
                try:
                    await self._standby()
                    await self._active()
                except (sa.exc.SQLAlchemyError, BusError) as exc:
                    self.state.active = False
                    log.warning("partition %d: %s; trying again", self.partition, exc)
                    await asyncio.sleep(RETRY_S)
        finally:
            leasing.cancel()
            await asyncio.gather(leasing, return_exceptions=True)

    def _reconcile(self, stored: int) -> None:
        """At a take-over, make the engine and the queued flushes follow on from the store's
        sequence ``stored``. Unless another process held the lease since this one last did
        (the epoch moved on: a holder taking its own lease again keeps it), its queued
        flushes and undrained history are still its own to write. If one did, they are that
        holder's (dropped), and an engine that counted past what it stored is rebuilt from
        the checkpoint, since the history of those batches was dropped too."""
        if self._own_seq is None or self._own_epoch == self.lease.epoch:
            return
        if self.state.applied_seq <= stored:
            self.engine.drain(time.time())  # history the other holder has stored
            self._unwritten.clear()
        else:
            log.warning("partition %d: another holder stored through %d while this one had "
                        "counted through %d; rebuilding from the checkpoint", self.partition,
                        stored, self.state.applied_seq)  # fmt: skip
            self.restore()
        self._own_seq = None

    async def _standby(self) -> None:
        self._held_back.clear()  # the follower below hands them out again
        sub = await self.bus.follow(self.partition, self.state.applied_seq)
        next_poll = 0.0
        try:
            while not self.lease.held:
                if time.monotonic() >= next_poll:
                    stored = await in_thread(self.store.history_seq, self.writer.seq_key)
                    self.state.stored_seq = stored
                    next_poll = time.monotonic() + STORED_SEQ_POLL_S
                    while self._held_back and self._held_back[0].seq <= stored:
                        self._apply(self._held_back.popleft())
                if self._held_back:  # nothing to do before the active one stores more
                    await asyncio.sleep(max(0.0, next_poll - time.monotonic()))
                    continue
                for d in await sub.fetch(FETCH_MAX, 0.2):
                    if d.seq > self.state.stored_seq:
                        self._held_back.append(d)
                    else:
                        self._apply(d)
        finally:
            await sub.close()

    async def _active(self) -> None:
        """Take over: the store's H is final now (the lease fences the previous holder)."""
        stored = await in_thread(self.store.history_seq, self.writer.seq_key)
        continuing = self._own_seq is not None and self._own_epoch == self.lease.epoch
        await in_thread(self._reconcile, stored)
        if not continuing:  # the open buckets are the store's, as of ``stored``
            await in_thread(self._load_open_buckets)
            # after a lowered partition count, the pool rows of partitions gone
            await in_thread(self.store.retire_writers, self.settings.partitions)
        self._own_epoch = self.lease.epoch
        self.state.stored_seq = stored
        self._own_seq = stored
        self._held_back.clear()  # read again from the bus after applied_seq
        sub = await self.bus.consume(self.partition, self.state.applied_seq)
        self.state.active = True
        self.state.took_over_at.append(time.time())
        log.info("partition %d: active from seq %d (stored %d)", self.partition,
                 self.state.applied_seq, self.state.stored_seq)  # fmt: skip
        interval = self.settings.flush_interval_s
        next_flush = time.monotonic() + interval
        next_checkpoint = time.monotonic() + self.settings.checkpoint_interval_s
        try:
            while self.lease.held:
                wait = max(0.0, min(0.5, next_flush - time.monotonic()))
                for d in await sub.fetch(FETCH_MAX, wait):
                    self._apply(d)
                if time.monotonic() >= next_flush:
                    save = time.monotonic() >= next_checkpoint
                    if await self._flush(sub, save):
                        next_checkpoint += self.settings.checkpoint_interval_s if save else 0
                        next_flush = _next_flush(next_flush, interval, time.monotonic())
                    else:  # the store is away: tried again an interval later
                        next_flush = time.monotonic() + interval
        finally:
            self.state.active = False
            await sub.close()

    async def _flush(self, sub: Subscription, save_state: bool) -> bool:
        """Drain, write (fenced by the lease), then acknowledge; False when the write failed
        (the flush stays queued, the bus keeps its batches)."""
        now = time.time()
        flush = self.engine.drain(now)
        state: dict[str, npt.NDArray[Any]] = {}
        if save_state:
            self.engine.evict(now)
            state = {k: v.copy() for k, v in self.engine.export().items()}
        self._unwritten.append(flush)
        try:
            while self._unwritten:
                await in_thread(self.store.write_flush, self._unwritten[0], self.writer)
                self._unwritten.pop(0)
        except Exception as exc:
            self.state.flush_error = f"{type(exc).__name__}: {exc}"
            log.warning("partition %d: flush failed (%s); kept, retried", self.partition, exc)
            return False
        self.state.flush_error = None
        # A take-over still catching up flushes below what the store holds (its sequence
        # stays): what is stored is never lowered, or history would count again.
        self.state.stored_seq = self._own_seq = max(self.state.stored_seq, flush.seq)
        self.state.last_flush_at = now
        if flush.seq:
            await sub.ack_through(flush.seq)
        self.state.lag = await sub.lag()
        if state:
            try:
                await in_thread(checkpoint.save, self.state_dir, state)
            except OSError as exc:  # a restart then reads more of the bus: nothing is lost
                log.error("partition %d: checkpoint not saved (%s)", self.partition, exc)
        return True


class _NoJournal:
    """The bus is this aggregator's journal: nothing is appended here."""

    def append(self, kind: int, payload: bytes) -> int:
        raise AssertionError("an aggregator only replays")
