"""One poolstats node: engine, journal, store and their timers, wired together.

Start-up recovers in a fixed order so that every acknowledged share counts exactly once:
load the checkpoint (engine state up to journal seq C), then replay the journal after C —
history increments only for records after the store's ``history_seq`` N (C <= N always,
because a checkpoint is written only after the flush that drained it has been stored). The
workers' open history buckets are taken from the store too (their sums as of N, stored with
the worker rows), before the replay.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from poolstats import upkeep
from poolstats.clock import Clock, SystemClock
from poolstats.config import Settings
from poolstats.domain.data_folder import refusal_behind_checkpoint
from poolstats.domain.hashrate import WindowDiffs
from poolstats.domain.health import Facts, Health, append_failure_report_s, judge
from poolstats.domain.partition_health import PartitionReport
from poolstats.domain.status import status_counts
from poolstats.earnings.settlement import Settler
from poolstats.engine.engine import Engine, EngineConfig
from poolstats.engine.snapshot import Flush
from poolstats.engine.windows import WINDOWS_S
from poolstats.ingest.journal import Journal, JournalError
from poolstats.ingest.pipeline import Format, Ingestor, IngestResult
from poolstats.metrics import Metrics
from poolstats.store import checkpoint, ledger
from poolstats.store.data_folder import JOURNAL_DIR, DataFolderRefused, FolderLock, open_store
from poolstats.store.sql import SqlStore
from poolstats.threads import in_thread

log = logging.getLogger(__name__)
PRUNE_EVERY_S = upkeep.PRUNE_EVERY_S
RANKED_BY = "15m"  # the window /metrics ranks sub-accounts by
BATCH_KEYS = "batch_keys"  # the ingest idempotency keys, saved with the engine state


class Registry:
    """Sub-account names and puids, with the store asked again (one indexed look-up) for a
    name or puid not seen before, so ``poolstats user create`` works while the server runs.
    Unknown ones are remembered for ``negative_s`` so a flood of them costs one query each."""

    def __init__(self, store: SqlStore, negative_s: float = 1.0) -> None:
        self._store = store
        self._negative_s = negative_s
        self._by_name = store.subaccounts()
        self._puids = set(self._by_name.values())
        self._unknown: dict[str | int, float] = {}

    def _recently_unknown(self, key: str | int) -> bool:
        at = self._unknown.get(key)
        if at is not None and time.monotonic() - at < self._negative_s:
            return True
        if len(self._unknown) > 100_000:
            self._unknown.clear()
        return False

    def known(self, name: str) -> int | None:
        """The puid of a name already seen, without asking the store (no I/O: safe on an
        event loop, where ``puid_of`` might block on the store)."""
        return self._by_name.get(name)

    def puid_of(self, name: str) -> int | None:
        puid = self._by_name.get(name)
        if puid is None and not self._recently_unknown(name):
            puid = self._store.puid_of(name)
            if puid is None:
                self._unknown[name] = time.monotonic()
            else:
                self._by_name[name] = puid
                self._puids.add(puid)
        return puid

    def exists(self, puid: int) -> bool:
        if puid in self._puids:
            return True
        if self._recently_unknown(puid):
            return False
        if self._store.subaccount_exists(puid):
            self._puids.add(puid)
            return True
        self._unknown[puid] = time.monotonic()
        return False


@dataclass(frozen=True)
class Recovery:
    checkpoint_seq: int
    history_seq: int
    replayed_batches: int
    replayed_shares: int
    seconds: float


class Service:
    takes_shares = True  # POST /ingest/shares goes to this node's journal and engine

    def __init__(
        self, settings: Settings, clock: Clock | None = None, start_fresh: bool = False
    ) -> None:
        """Open the data folder; raises ``DataFolderRefused`` (nothing changed) when its
        database is missing, empty or another folder's, unless ``start_fresh`` (then the old
        files are moved to ``self.set_aside``)."""
        settings.fee_rate()  # a mistyped pool_fee_rate stops the start, not a settlement
        settings.stratum_regions()  # and so does a mistyped pool_stratum_urls
        settings.tx_link()  # and a dashboard link that cannot work
        self.settings = settings
        self.clock = clock or SystemClock()
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.metrics = Metrics()
        lock = FolderLock(data_dir)  # before anything in the folder is read, moved or opened
        try:
            self.store, self.set_aside = open_store(data_dir, start_fresh, lock, settings.store_url)
            self.journal = Journal(
                data_dir / JOURNAL_DIR,
                segment_bytes=settings.journal_segment_bytes,
                lock_fd=lock.hand_over(),
            )
        finally:
            lock.close()  # nothing left to close once the journal holds it
        self.registry = Registry(self.store)
        self.config = EngineConfig(active_s=settings.active_s)
        # The engine is made from the checkpoint before anything that holds it (the ingestor):
        # whether the store is recent enough for it is judged by ``recover``, before replay.
        loading = time.perf_counter()
        self._saved = checkpoint.load(data_dir)
        self.engine = (
            Engine(self.config) if self._saved is None else Engine.restore(self._saved, self.config)
        )
        self.ingestor = Ingestor(
            self.engine, self.journal, self.registry, self.clock.now, settings.future_s
        )
        if self._saved is not None and BATCH_KEYS in self._saved:
            self.ingestor.keys.restore(self._saved[BATCH_KEYS].tobytes())
        self._load_s = time.perf_counter() - loading
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._unwritten: list[Flush] = []
        self.last_flush_at = 0.0
        self.started_at = self.clock.now()
        self._flush_error: str | None = None
        self._last_prune = 0.0
        self.recovery: Recovery | None = None
        self._network_version: tuple[int, int] | None = None
        self.settler = Settler(self.store, settings, self.clock, self.metrics)
        self.refresh_network()

    def partitions(self) -> list[PartitionReport]:
        """A single node has no partitions (``api.node.ApiNode``)."""
        return []

    async def ingest(self, body: bytes, fmt: Format, key: str = "") -> IngestResult:
        """Judge, journal and count one batch (in a worker thread: CPU and the fsync)."""
        return await in_thread(self.ingestor.ingest, body, fmt, key)

    # -- start and stop -----------------------------------------------------------------------

    def recover(self) -> Recovery:
        started = time.perf_counter() - self._load_s  # the checkpoint was loaded in __init__
        saved, self._saved = self._saved, None  # its arrays are the engine's now
        if saved is not None:
            problem = refusal_behind_checkpoint(
                str(self.data_dir), self.store.history_seq(), Engine.saved_seq(saved)
            )
            if problem is not None:
                raise DataFolderRefused(problem)
        checkpoint_seq = self.engine.seq
        if saved is None and self.journal.first_seq > 1:  # the checkpoint file is gone
            checkpoint_seq = self.journal.first_seq - 1
            log.error(
                "no usable checkpoint: replaying the journal from seq %d; the windows of "
                "shares before it start empty (history in the store is intact)",
                checkpoint_seq + 1,
            )
        history_seq = self.store.history_seq()
        # The workers' open history buckets as of N: newer than the checkpoint's (C <= N).
        for period_s in self.config.worker_periods:
            start, puids, names, sums = self.store.open_buckets(period_s)
            if puids:
                self.engine.load_open(period_s, start, puids, names, sums)
        batches = shares = 0
        for record in self.journal.replay(after_seq=checkpoint_seq):
            shares += self.ingestor.replay(
                record.payload, Format(record.kind), record.seq, history=record.seq > history_seq
            )
            batches += 1
        self.engine.seq = max(self.engine.seq, self.journal.last_seq)
        self._count_damage(checkpoint_seq)
        self.engine.advance(self.clock.now())
        self.recovery = Recovery(
            checkpoint_seq, history_seq, batches, shares, time.perf_counter() - started
        )
        log.info("recovered: %s", self.recovery)
        if batches:
            self.checkpoint()
        return self.recovery

    def _count_damage(self, checkpoint_seq: int) -> None:
        """Count the acknowledged records replay had to skip (damaged journal bytes); those
        a checkpoint already holds were not needed and are not counted (the journal's ERROR
        lines name every damaged stretch either way)."""
        skipped = 0
        for damage in self.journal.damage:
            first = max(damage.first_lost, checkpoint_seq + 1)
            skipped += max(0, damage.last_lost - first + 1)
        if skipped:
            self.metrics.journal_damaged_records.inc(skipped)
            log.error(
                "recovery skipped %d damaged journal record(s); their bytes are in %s",
                skipped,
                self.journal.directory / "damaged",
            )

    def health(self) -> Health:
        """What /healthz answers: see ``domain.health``."""
        now = self.clock.now()
        return judge(
            Facts(
                journal_problem=self.journal.problem(
                    append_failure_report_s(self.settings.flush_interval_s)
                ),
                # a flush on its way to the store is queued too: failed only after an error
                unwritten_flushes=len(self._unwritten) if self._flush_error is not None else 0,
                flush_error=self._flush_error,
                flush_age_s=now - (self.last_flush_at or self.started_at),
                flush_interval_s=self.settings.flush_interval_s,
            )
        )

    def health_report(self) -> tuple[int, dict[str, Any]]:
        """/healthz's status code and body: ``health`` and the pipeline's figures."""
        now = self.clock.now()
        health = self.health()
        body = {
            "status": health.status,
            "ingest": health.ingest,
            "reasons": list(health.reasons),
            "time": int(now),
            "journal_seq": self.engine.seq,
            "workers_tracked": self.engine.tracked_workers,
            "last_flush": int(self.last_flush_at),
            "flush_age_s": round(now - self.last_flush_at, 3) if self.last_flush_at else None,
        }
        return health.http_status, body

    def scrape_gauges(self) -> None:
        """Gauges read at scrape time, beside the hashrate ones (``window_diffs``)."""
        if self.last_flush_at:
            self.metrics.flush_age.set(self.clock.now() - self.last_flush_at)

    def window_diffs(self, top_n: int) -> WindowDiffs:
        """Every window's accepted difficulty from the engine's live windows at the clock's
        now (under the ingest lock, as a batch is applied): the pool's and the ``top_n``
        busiest sub-accounts' by 15m."""
        with self.ingestor.lock:
            engine = self.engine
            engine.advance(self.clock.now())  # windows slide even when no share arrives
            pool = {w: float(engine.p_live.window("accept", w)[0]) for w in WINDOWS_S}
            top: dict[int, dict[str, float]] = {}
            if top_n > 0 and len(engine.subs):
                ranked = engine.s_live.window("accept", RANKED_BY)[: len(engine.subs)]
                order = np.argsort(-ranked, kind="stable")[:top_n]
                rows = order[ranked[order] > 0].astype(np.int64)
                puids = engine.subs.puid_array()[rows]
                sums = {w: engine.s_live.window("accept", w, rows) for w in WINDOWS_S}
                top = {
                    int(puid): {w: float(sums[w][i]) for w in WINDOWS_S}
                    for i, puid in enumerate(puids.tolist())
                }
        return WindowDiffs(pool, top)

    def close(self) -> None:
        """Flush and checkpoint, so the next start replays nothing (when that fails, the
        next start replays the journal instead: nothing acknowledged is lost)."""
        try:
            self.checkpoint()
        except (JournalError, OSError):
            log.exception("final checkpoint failed; the next start replays the journal")
        finally:
            try:
                self.journal.close()
            finally:
                self.store.close()

    # -- network states and settlement ---------------------------------------------------------

    def refresh_network(self) -> bool:
        """Give the engine the network states recorded so far (by the poller, or by
        ``poolstats network set`` from another process) when they changed; cheap otherwise."""
        version = ledger.network_version(self.store)
        if version == self._network_version:
            return False
        timeline = ledger.timeline(self.store)
        with self.ingestor.lock:
            self.engine.timeline = timeline
        self._network_version = version
        return True

    def settle_due(self) -> ledger.Settlement | None:
        """Settle yesterday once ``settle_after_s`` of today have passed (after a flush, so
        yesterday's shares acknowledged until then are in it; later ones go to today)."""
        return self.settler.settle_due()

    # -- periodic work ------------------------------------------------------------------------

    def flush(self) -> Flush:
        """Write what changed since the last flush to the store."""
        return self._flush(save_state=False)

    def checkpoint(self) -> None:
        """Flush, then save the engine state and drop the journal it makes redundant."""
        self._flush(save_state=True)

    def _flush(self, save_state: bool) -> Flush:
        state: dict[str, npt.NDArray[Any]] = {}
        with self._flush_lock:
            with self.ingestor.lock:
                now = self.clock.now()
                flush = self.engine.drain(now)
                if save_state:
                    self.engine.evict(now)
                    state = {k: v.copy() for k, v in self.engine.export().items()}
                    state[BATCH_KEYS] = np.frombuffer(self.ingestor.keys.export(), np.uint8)
            self._write(flush)  # the store now holds history up to flush.seq: C <= N
            if state:
                started = time.perf_counter()
                checkpoint.save(self.data_dir, state)
                self.journal.truncate_before(flush.seq + 1)
                self.metrics.checkpoint_seconds.observe(time.perf_counter() - started)
            self._update_gauges()
            return flush

    def _write(self, flush: Flush) -> None:
        """Store flushes in order; one that failed stays queued and goes first next time
        (its history increments exist nowhere else)."""
        self._unwritten.append(flush)
        while self._unwritten:
            started = time.perf_counter()
            try:
                self.store.write_flush(self._unwritten[0])
            except Exception as exc:
                self._flush_error = f"{type(exc).__name__}: {exc}"
                raise
            done = self._unwritten.pop(0)
            self._flush_error = None
            self.metrics.flush_seconds.observe(time.perf_counter() - started)
            self.metrics.flushed_workers.inc(len(done.workers.puid))
            self.last_flush_at = done.now

    def _update_gauges(self) -> None:
        self.metrics.workers_tracked.set(self.engine.tracked_workers)
        counts = status_counts(
            self.engine.last_accept_times(),
            self.clock.now(),
            self.settings.active_s,
            self.settings.inactive_s,
        )
        for status, count in counts.items():
            self.metrics.workers_by_status.labels(status.value.lower()).set(count)

    def prune(self) -> int:
        return upkeep.prune(self.store, self.settings, self.clock.now())

    async def run_timers(self) -> None:
        """Flush, checkpoint and prune on their intervals until cancelled.

        Drains are spaced by the flush interval less the time the last write took, so a
        share is in the store within one flush interval of its acknowledgement.
        """
        settings = self.settings
        interval = settings.flush_interval_s
        next_checkpoint = time.monotonic() + settings.checkpoint_interval_s
        write_s = 0.0
        while True:
            started = time.monotonic()
            try:
                if started >= next_checkpoint:
                    await in_thread(self.checkpoint)
                    next_checkpoint = time.monotonic() + settings.checkpoint_interval_s
                else:
                    await in_thread(self.flush)
                write_s = time.monotonic() - started
                await in_thread(self.refresh_network)
                await in_thread(self.settle_due)
                if time.monotonic() - self._last_prune >= PRUNE_EVERY_S:
                    self._last_prune = time.monotonic()
                    await in_thread(self.prune)
            except Exception:  # a failed flush must not stop the timers; the next one retries
                log.exception("periodic flush failed")
            period = max(interval - write_s, interval / 2)
            await asyncio.sleep(max(0.0, started + period - time.monotonic()))
