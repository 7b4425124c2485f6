"""The engine: share batches in; trailing windows, worker state and history increments out.

Pure given ``now``: every method that depends on time takes it as an argument, and nothing
here reads a clock, a file or a database. State is columnar (one numpy array per field, one
entry per worker row) so that a batch of shares costs a handful of vectorised scatters, and a
tracked worker costs well under a kilobyte.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from poolstats.domain.arrays import F64, I64, U8
from poolstats.domain.share import Status, agent_text
from poolstats.domain.workers import worker_id
from poolstats.engine.buckets import Buckets, Drained
from poolstats.engine.rings import Sums, lazy_zeros
from poolstats.engine.snapshot import (
    Flush,
    HistoryDelta,
    Level,
    OpenBuckets,
    PoolRow,
    SubaccountRows,
    WindowSums,
    WorkerRows,
)
from poolstats.engine.table import SubaccountTable, WorkerTable
from poolstats.engine.windows import TOTAL_RINGS, WINDOWS_S, WORKER_RINGS, Realtime
from poolstats.engine.work import EMPTY_TIMELINE, Timeline, WorkBook

Part = tuple[I64, F64, F64]  # rows, ts, diff of the shares of one status
GROWTH = 1.25
PER_WORKER = (
    "w_used",
    "w_sub",
    "w_id",
    "w_last",
    "w_last_accept",
    "w_accepts",
    "w_rejects",
    "w_ip",
    "w_dirty",
    "w_stored",
    "w_plain",
    "w_first",
    "w_agent",
    "w_facts",
)
# Not in checkpoints: what the store holds is only known after a drain of this engine.
NOT_SAVED = frozenset({"w_plain"})
# The worker windows of figures other than accepted shares (rejects, stale shares).
_RARE_WINDOWS = tuple(
    f.name for f in dataclasses.fields(WindowSums) if not f.name.startswith("accept_")
)
# ``w_first`` holds this minus the first share's second, so that 0 (a fresh row) means none
# and the earliest share is the largest value: one ``np.maximum.at``, as for ``w_last``.
# uint32 seconds reach 2106.
_FIRST_REVERSED = 2**32 - 1


@dataclass(frozen=True)
class EngineConfig:
    active_s: int = 900  # ACTIVE while the last accepted share is this recent
    worker_periods: tuple[int, ...] = (3600, 86400)
    subaccount_periods: tuple[int, ...] = (300, 900, 3600, 86400)
    pool_periods: tuple[int, ...] = (300, 3600, 86400)

    def periods(self, level: Level) -> tuple[int, ...]:
        """The bucket lengths of the history kept for ``level`` (what the APIs may serve)."""
        return {
            Level.WORKER: self.worker_periods,
            Level.SUBACCOUNT: self.subaccount_periods,
            Level.POOL: self.pool_periods,
        }[level]


@dataclass(frozen=True)
class ShareBatch:
    """Validated shares resolved to engine rows (see ``Engine.worker_rows``)."""

    rows: I64
    ts: F64
    diff: F64  # already quantised (poolstats.domain.share.quantize_diff)
    status: U8
    ip: I64  # code from ``Engine.ip_codes``, -1: none
    agent: I64 | None = None  # code from ``Engine.agent_codes``, -1: none; None: no agents

    def __len__(self) -> int:
        return len(self.rows)


class Engine:
    def __init__(self, config: EngineConfig | None = None, capacity: int = 1024) -> None:
        self.config = config or EngineConfig()
        self.now = 0.0  # the newest time the engine was advanced to
        self.seq = 0  # journal sequence of the newest batch applied
        self.epoch = 0  # moves when rows are freed: rows looked up before then may be stale
        self._drained_at = 0.0
        self.workers = WorkerTable()
        self.subs = SubaccountTable()
        self.ips: list[str] = []
        self._ip_code: dict[str, int] = {}
        # Miner agents as the IPs: a table of the distinct ones, a code per worker.
        self.agents: list[str] = []
        self._agent_code: dict[str, int] = {}
        # per worker row
        self.w_used = lazy_zeros(capacity, np.bool_)
        self.w_sub = lazy_zeros(capacity, np.int32)
        self.w_id = lazy_zeros(capacity, np.int64)
        self.w_last = lazy_zeros(capacity, np.float64)
        self.w_last_accept = lazy_zeros(capacity, np.float64)
        self.w_accepts = lazy_zeros(capacity, np.uint32)  # wraps after 4e9 shares: centuries
        self.w_rejects = lazy_zeros(capacity, np.uint32)
        self.w_ip = lazy_zeros(capacity, np.int32)  # IP code + 1; 0: none
        self.w_dirty = lazy_zeros(capacity, np.bool_)
        self.w_stored = lazy_zeros(capacity, np.bool_)  # drained before: its store row exists
        # The stored row's figures but the accepted ones (reject and stale windows, counts and
        # open-bucket sums, IP) are the engine's, and no window of them can slide: none holds
        # a share. Cleared by a reject or stale share, a new IP, or a closing bucket; see
        # ``WorkerRows.plain``.
        self.w_plain = lazy_zeros(capacity, np.bool_)
        self.w_first = lazy_zeros(capacity, np.uint32)  # _FIRST_REVERSED - first share's second
        self.w_agent = lazy_zeros(capacity, np.int32)  # agent code + 1; 0: none
        # First share time or agent moved since the last drain: see ``WorkerRows.new_facts``.
        self.w_facts = lazy_zeros(capacity, np.bool_)
        self.w_live = Realtime(WORKER_RINGS, np.float32, capacity)
        # Open buckets stay here until they close (see ``buckets``); the store has their sums
        # as of each flush in the worker rows, and ``load_open`` takes them back on recovery.
        self.w_hist = [Buckets(p, capacity, keep_open=True) for p in self.config.worker_periods]
        # per sub-account row
        self.s_last = np.zeros(16, np.float64)
        self.s_live = Realtime(TOTAL_RINGS, np.float64, 16)
        self.s_hist = [Buckets(p, 16) for p in self.config.subaccount_periods]
        # the pool: one row
        self.p_live = Realtime(TOTAL_RINGS, np.float64, 1)
        self.p_hist = [Buckets(p, 1) for p in self.config.pool_periods]
        self._use(self.s_live, self.s_hist, 16)
        self._use(self.p_live, self.p_hist, 1)
        # exact accepted work for settlement, valued against the network states known so far
        self.timeline: Timeline = EMPTY_TIMELINE
        self.work = WorkBook()

    # -- rows ---------------------------------------------------------------------------------

    @property
    def tracked_workers(self) -> int:
        return self.workers.tracked

    def worker_rows(self, puids: list[int], names: list[str]) -> I64:
        """Engine rows for (puid, worker name as sent) pairs; unseen workers are added."""
        rows, new = self.workers.rows(puids, names)
        if new:
            if len(self.workers) > len(self.w_used):
                self._grow_workers(len(self.workers))
            self._use(self.w_live, self.w_hist, len(self.workers))
            sub_rows, added = self.subs.rows([puid for _, puid in new])
            if added:
                self._grow_subaccounts(len(self.subs))
            for (row, _), sub in zip(new, sub_rows, strict=True):
                self.w_used[row] = True
                self.w_sub[row] = sub
                self.w_id[row] = worker_id(self.workers.names[row])
        return np.array(rows, dtype=np.int64)

    @property
    def index(self) -> dict[int, dict[str, int]]:
        """puid -> {worker name -> row}: readable without the lock (dict reads), for
        resolving shares ahead of ``apply``; check ``epoch`` before trusting the rows."""
        return self.workers.by_puid

    def ip_codes(self, ips: list[str]) -> I64:
        return _codes(ips, self.ips, self._ip_code, empty_is_none=False)

    def agent_codes(self, agents: list[str]) -> I64:
        """Codes of miner agents for ``ShareBatch.agent``; an empty one is none (-1)."""
        cleaned = [agent_text(a) for a in agents]  # a batch's distinct ones: few
        return _codes(cleaned, self.agents, self._agent_code, empty_is_none=True)

    @staticmethod
    def _use(live: Realtime, hist: list[Buckets], n: int) -> None:
        """Rows below ``n`` may be touched (see ``Rings.used``)."""
        live.use(n)
        for buckets in hist:
            buckets.used = n

    def _grow_workers(self, needed: int) -> None:
        capacity = max(needed, int(len(self.w_used) * GROWTH) + 1024)
        for name in PER_WORKER:
            old = getattr(self, name)
            new = lazy_zeros(capacity, old.dtype)  # untouched beyond the rows in use: no RSS
            new[: len(old)] = old
            setattr(self, name, new)
        self.w_live.grow(capacity)
        for buckets in self.w_hist:
            buckets.grow(capacity)

    def _grow_subaccounts(self, needed: int) -> None:
        if needed <= len(self.s_last):
            return
        capacity = max(needed, len(self.s_last) * 2)
        old = self.s_last
        self.s_last = np.zeros(capacity, np.float64)
        self.s_last[: len(old)] = old
        self.s_live.grow(capacity)
        for buckets in self.s_hist:
            buckets.grow(capacity)
        self._use(self.s_live, self.s_hist, capacity)

    # -- time and shares ----------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Move the windows and current buckets to ``now`` (time never goes back)."""
        if now <= self.now:
            return
        self.now = now
        for live in (self.w_live, self.s_live, self.p_live):
            live.rotate(now)
        for buckets in (*self.w_hist, *self.s_hist, *self.p_hist):
            buckets.rotate(now)

    def apply(self, batch: ShareBatch, now: float, seq: int = 0, history: bool = True) -> None:
        """Count a batch. ``history=False`` when replaying a batch the store already has (its
        history increments and its work for settlement)."""
        self.advance(now)
        self.seq = max(self.seq, seq)
        if not len(batch):
            return
        rows, status, diff = batch.rows, batch.status, batch.diff
        ts = np.minimum(batch.ts, self.now)  # a little in the future: counts as now
        span = (float(ts.min()), float(ts.max()))
        subs = self.w_sub[rows].astype(np.int64)  # int32 storage; keys need 64 bits
        masks = [status == code for code in Status]

        def by_level(times: F64) -> tuple[list[Part], list[Part], list[Part]]:
            """(rows, ts, diff) per status, for workers, sub-accounts and the pool."""
            workers = [(rows[m], times[m], diff[m]) for m in masks]
            subaccounts = [(subs[m], t, d) for m, (_, t, d) in zip(masks, workers, strict=True)]
            pool = [(np.zeros(len(t), np.int64), t, d) for _, t, d in workers]
            return workers, subaccounts, pool

        live_parts = by_level(ts)
        lives = (self.w_live, self.s_live, self.p_live)
        # each status's diff summed per row once, for every ring and bucket of its level
        level_sums = [
            [Sums.of(rows, diff, live.used) for rows, _, diff in parts]
            for live, parts in zip(lives, live_parts, strict=True)
        ]
        for live, parts, sums in zip(lives, live_parts, level_sums, strict=True):
            live.add(parts, span, sums)
        if history:
            hist_parts, hist_span = live_parts, span
            hist_sums: list[list[Sums] | None] = list(level_sums)
            if span[1] < float(batch.ts.max()):  # history keeps the true time of future shares
                hist_parts = by_level(batch.ts)
                hist_span = (float(batch.ts.min()), float(batch.ts.max()))
                hist_sums = [None, None, None]
            for level, parts, summed in zip(
                (self.w_hist, self.s_hist, self.p_hist), hist_parts, hist_sums, strict=True
            ):
                for buckets in level:
                    buckets.add(parts, hist_span, summed)
            self.work.add(*hist_parts[1][Status.ACCEPT], self.timeline)
        # worker state
        np.maximum.at(self.w_last, rows, ts)
        accepted_rows, accepted_ts, _ = live_parts[0][Status.ACCEPT]
        np.maximum.at(self.w_last_accept, accepted_rows, accepted_ts)
        one = np.uint32(1)  # of the counters' type: a plain 1 takes numpy's slow path, 20x
        np.add.at(self.w_accepts, accepted_rows, one)
        not_accepted = rows[~masks[Status.ACCEPT]]
        np.add.at(self.w_rejects, not_accepted, one)
        self.w_plain[not_accepted] = False
        with_ip = batch.ip >= 0
        newest = with_ip & (ts >= self.w_last[rows])
        new_ip = rows[newest]
        self.w_plain[new_ip[self.w_ip[new_ip] != batch.ip[newest] + 1]] = False
        self.w_ip[new_ip] = batch.ip[newest] + 1
        # first share time (see _FIRST_REVERSED) and agent: a change is a new fact to store
        first = (_FIRST_REVERSED - np.floor(ts)).astype(np.uint32)
        earlier = first > self.w_first[rows]  # than the first known: new workers, mostly
        np.maximum.at(self.w_first, rows[earlier], first[earlier])
        self.w_facts[rows[earlier]] = True
        if batch.agent is not None:  # the newest share naming one wins (the last of a tie)
            naming = batch.agent >= 0
            named, code, at = rows[naming], batch.agent[naming] + 1, ts[naming]
            if len(at) > 1 and bool(np.any(at[1:] < at[:-1])):  # in time order: no sort
                order = np.argsort(at, kind="stable")
                named, code = named[order], code[order]
            before_agent = self.w_agent[named]
            self.w_agent[named] = code  # of repeated rows, the last assignment stays
            self.w_facts[named[self.w_agent[named] != before_agent]] = True
        self.w_dirty[rows] = True
        np.maximum.at(self.s_last, subs, ts)

    # -- flush --------------------------------------------------------------------------------

    def changed_rows(self, now: float) -> I64:
        """Workers whose stored figures may differ from the engine's: new shares, or windows
        still sliding (their shares are leaving the 1m ... 1d windows: ``Realtime.sliding``)."""
        n = len(self.workers)
        closed = [b.take_closed() for b in self.w_hist]
        since = min(self._drained_at, now)
        moving = self.w_live.sliding(since, now, self.w_last[:n])
        changed = self.w_used[:n] & (self.w_dirty[:n] | moving)
        for rows in closed:  # their stored open bucket is the one whose increments go now
            changed[rows] = True
            self.w_plain[rows] = False  # its stale and reject sums start again from 0
        return np.flatnonzero(changed).astype(np.int64)

    def drain(self, now: float) -> Flush:
        """Everything the store needs to reflect the engine at ``now``; resets the increments."""
        self.advance(now)
        now = self.now
        rows = self.changed_rows(now)
        s_puid = self.subs.puid_array()
        w_puid = s_puid[self.w_sub[rows]]
        ip_table = self.ips
        sums = self.w_live.sums(rows)
        workers = WorkerRows(
            puid=w_puid,
            worker_id=self.w_id[rows],
            worker_name=[self.workers.names[r] for r in rows.tolist()],
            sums=sums,
            accept_count=self.w_accepts[rows].astype(np.int64),
            reject_count=self.w_rejects[rows].astype(np.int64),
            last_share_time=np.floor(self.w_last[rows]).astype(np.int64),
            last_accept_time=np.floor(self.w_last_accept[rows]).astype(np.int64),
            last_share_ip=[ip_table[c - 1] if c else "" for c in self.w_ip[rows].tolist()],
            open=tuple(self._open(buckets, rows) for buckets in self.w_hist),
            stored=self.w_stored[rows].copy(),
            plain=self.w_stored[rows] & self.w_plain[rows],
            first_share_time=self._first_share_times(rows),
            miner_agent=np.array(["", *self.agents], dtype=object)[self.w_agent[rows]].tolist(),
            new_facts=self.w_facts[rows].copy(),
        )
        self.w_facts[rows] = False
        self.w_stored[rows] = True
        quiet = np.ones(len(rows), np.bool_)  # no reject or stale share in any window
        for name in _RARE_WINDOWS:
            quiet &= getattr(sums, name) == 0
        self.w_plain[rows] = quiet
        n_subs = len(self.subs)
        n = len(self.workers)
        active = self.w_used[:n] & (self.w_last_accept[:n] >= now - self.config.active_s)
        per_sub = np.bincount(self.w_sub[:n][active], minlength=n_subs).astype(np.int64)
        subaccounts = SubaccountRows(
            puid=s_puid,
            sums=self.s_live.sums(np.arange(n_subs, dtype=np.int64)),
            workers_active=per_sub,
            last_share_time=np.floor(self.s_last[:n_subs]).astype(np.int64),
        )
        pool = PoolRow(
            sums=self.p_live.sums(np.zeros(1, np.int64)),
            workers_active=int(active.sum()),
            users_active=int((per_sub > 0).sum()),
        )
        history: list[HistoryDelta] = []
        for buckets in self.w_hist:
            d = buckets.drain()
            history.append(
                self._delta(Level.WORKER, buckets, d, s_puid[self.w_sub[d.rows]], self.w_id[d.rows])
            )
        for buckets in self.s_hist:
            d = buckets.drain()
            history.append(
                self._delta(
                    Level.SUBACCOUNT, buckets, d, s_puid[d.rows], np.zeros(len(d.rows), np.int64)
                )
            )
        for buckets in self.p_hist:
            d = buckets.drain()
            zeros = np.zeros(len(d.rows), np.int64)
            history.append(self._delta(Level.POOL, buckets, d, zeros, zeros))
        self.w_dirty[:n] = False
        self._drained_at = now
        return Flush(
            now=int(now),
            seq=self.seq,
            workers=workers,
            subaccounts=subaccounts,
            pool=pool,
            history=[h for h in history if len(h.start)],
            work=self.work.drain(s_puid),
        )

    def _first_share_times(self, rows: I64) -> I64:
        """Unix seconds of the rows' first shares, 0 where none is known (``w_first``)."""
        reversed_ = self.w_first[rows].astype(np.int64)
        return np.where(reversed_ > 0, _FIRST_REVERSED - reversed_, 0)

    @staticmethod
    def _open(buckets: Buckets, rows: I64) -> OpenBuckets:
        sums = buckets.open_sums(rows)
        return OpenBuckets(
            period_s=buckets.period_s,
            start=buckets.start,
            accept=sums[Status.ACCEPT],
            stale=sums[Status.STALE],
            reject=sums[Status.REJECT],
        )

    def load_open(
        self, period_s: int, start: int, puids: list[int], names: list[str], sums: F64
    ) -> None:
        """Take the open bucket of period ``period_s`` as the store holds it (``sums``: shape
        (3, n), accept, reject, stale per (puid, name)), on recovery before the journal replay.

        The store's open buckets are as of its ``history_seq`` N, the checkpoint's state only
        as of C <= N; replay then adds history for records after N only, as for the
        increments the store holds in its history tables.
        """
        level = [b for b in self.w_hist if b.period_s == period_s]
        if not level:
            raise ValueError(f"no worker history of period {period_s} s")
        rows = self.worker_rows(puids, names)
        self.w_stored[rows] = True
        level[0].load_open(start, rows, sums)

    @staticmethod
    def _delta(level: Level, buckets: Buckets, d: Drained, puid: I64, wid: I64) -> HistoryDelta:
        return HistoryDelta(
            level=level,
            period_s=buckets.period_s,
            puid=puid.astype(np.int64),
            worker_id=wid.astype(np.int64),
            start=d.start,
            accept=d.sums[Status.ACCEPT],
            stale=d.sums[Status.STALE],
            reject=d.sums[Status.REJECT],
        )

    def evict(self, now: float) -> int:
        """Free the rows of workers silent for longer than every window (DEAD for the 1d one),
        and the IP addresses no worker holds any more.

        Their last figures stay in the store; a share from them later starts a fresh row.
        Call right after ``drain`` so no increments are pending for them.
        """
        horizon = now - max(WINDOWS_S.values()) - 3600
        n = len(self.workers)
        stale = self.w_used[:n] & ~self.w_dirty[:n] & (self.w_last[:n] < horizon)
        for buckets in self.w_hist:
            stale[buckets.pending_rows()] = False
        rows = np.flatnonzero(stale).astype(np.int64)
        if len(rows):
            s_puid = self.subs.puid_array()
            self.workers.remove(rows.tolist(), s_puid[self.w_sub[rows]].tolist())
            self.epoch += 1
            for name in PER_WORKER:
                getattr(self, name)[rows] = 0
            self.w_live.clear(rows)
        self.ips, self._ip_code = self._compact(self.w_ip, self.ips, self._ip_code)
        self.agents, self._agent_code = self._compact(self.w_agent, self.agents, self._agent_code)
        return len(rows)

    def _compact(
        self, codes: npt.NDArray[np.int32], table: list[str], index: dict[str, int]
    ) -> tuple[list[str], dict[str, int]]:
        """Forget the strings (IP addresses, agents) no tracked worker has as its last one,
        once they are the majority (else the table would keep every one ever seen); ``codes``
        (per worker row, code + 1) are renumbered in place."""
        n = len(self.workers)
        in_use = np.unique(codes[:n])
        in_use = in_use[in_use > 0]  # codes + 1
        if len(table) <= 2 * len(in_use) + 1024:
            return table, index
        remap = np.zeros(len(table) + 1, np.int32)
        remap[in_use] = np.arange(1, len(in_use) + 1, dtype=np.int32)
        codes[:n] = remap[codes[:n]]
        kept = [table[c - 1] for c in in_use.tolist()]
        return kept, {text: i for i, text in enumerate(kept)}

    # -- queries (tests, metrics) -------------------------------------------------------------

    def last_accept_times(self) -> F64:
        """Time of each tracked worker's last accepted share (0: none yet), for status counts."""
        n = len(self.workers)
        result: F64 = self.w_last_accept[:n][self.w_used[:n]]
        return result

    def worker_row(self, puid: int, name: str) -> int | None:
        return self.workers.by_puid.get(puid, {}).get(name)

    def worker_sums(self, puid: int, name: str) -> WindowSums:
        row = self.worker_row(puid, name)
        if row is None:
            raise KeyError((puid, name))
        return self.w_live.sums(np.array([row], np.int64))

    def subaccount_sums(self, puid: int) -> WindowSums:
        return self.s_live.sums(np.array([self.subs.row_of[puid]], np.int64))

    def pool_sums(self) -> WindowSums:
        return self.p_live.sums(np.zeros(1, np.int64))

    def bytes_per_worker(self) -> int:
        """numpy bytes one worker row costs (the Python index is measured separately)."""
        scalars = sum(getattr(self, name).itemsize for name in PER_WORKER)
        rings = sum(r.n * a.itemsize for r in self.w_live.rings for a in r.data.values())
        buckets = sum(len(b.dense) * b.dense.itemsize for b in self.w_hist)
        return int(scalars + rings + buckets)

    # -- checkpoints --------------------------------------------------------------------------

    def export(self) -> dict[str, npt.NDArray[Any]]:
        """The whole state as named arrays (the caller writes them: store/checkpoint.py).

        Call right after ``drain``: pending history increments are not part of a checkpoint
        (the store has them), nor are the workers' open buckets (the store has their sums in
        the worker rows, newer than any checkpoint: ``load_open``).
        """
        arrays: dict[str, npt.NDArray[Any]] = {}
        n = len(self.workers)
        for name in PER_WORKER:
            if name not in NOT_SAVED:
                arrays[name] = getattr(self, name)[:n]
        n_subs = len(self.subs)
        arrays["s_last"] = self.s_last[:n_subs]
        for prefix, live, size in (
            ("w", self.w_live, n),
            ("s", self.s_live, n_subs),
            ("p", self.p_live, 1),
        ):
            for ring in live.rings:
                for field, data in ring.data.items():
                    arrays[f"{prefix}_ring_{ring.res_s}_{field}"] = data[:, :size]
        s_puid = self.subs.puid_array()
        meta = {
            "now": self.now,
            "seq": self.seq,
            "drained_at": self._drained_at,
            "names": self.workers.names,
            "puids": np.where(self.w_used[:n], s_puid[self.w_sub[:n]], 0).tolist(),
            "sub_puids": self.subs.puids,
            "ips": self.ips,
            "agents": self.agents,
            "heads": {
                f"{p}_{ring.res_s}": ring.head
                for p, live in (("w", self.w_live), ("s", self.s_live), ("p", self.p_live))
                for ring in live.rings
            },
        }
        arrays["meta"] = np.frombuffer(msgspec.msgpack.encode(meta), dtype=np.uint8)
        return arrays

    @staticmethod
    def saved_seq(arrays: dict[str, npt.NDArray[Any]]) -> int:
        """The journal seq a checkpoint's state includes (a backup reads it without a
        restore)."""
        return int(msgspec.msgpack.decode(arrays["meta"].tobytes())["seq"])

    @classmethod
    def restore(
        cls, arrays: dict[str, npt.NDArray[Any]], config: EngineConfig | None = None
    ) -> Engine:
        meta = msgspec.msgpack.decode(arrays["meta"].tobytes())
        n = len(meta["names"])
        engine = cls(config, capacity=max(1024, int(n * GROWTH)))
        engine.subs.rows(meta["sub_puids"])
        engine._grow_subaccounts(len(engine.subs))
        engine.workers.restore(meta["names"], meta["puids"])
        engine._use(engine.w_live, engine.w_hist, n)
        for name in PER_WORKER:
            if name in arrays:  # w_stored is newer than some checkpoints: unknown is False
                getattr(engine, name)[:n] = arrays[name]
        engine.s_last[: len(engine.subs)] = arrays["s_last"]
        for prefix, live in (("w", engine.w_live), ("s", engine.s_live), ("p", engine.p_live)):
            for ring in live.rings:
                names = [f"{prefix}_ring_{ring.res_s}_{field}" for field in ring.data]
                head = meta["heads"].get(f"{prefix}_{ring.res_s}")
                if head is None or any(name not in arrays for name in names):
                    continue  # saved with other slots: the ring fills again from new shares
                ring.head = head
                for name, data in zip(names, ring.data.values(), strict=True):
                    saved = arrays[name]
                    data[:, : saved.shape[1]] = saved
        engine.ips = list(meta["ips"])
        engine._ip_code = {ip: i for i, ip in enumerate(engine.ips)}
        engine.agents = list(meta.get("agents", ()))  # none in checkpoints older than agents
        engine._agent_code = {agent: i for i, agent in enumerate(engine.agents)}
        engine.now = meta["now"]
        engine.seq = meta["seq"]
        engine._drained_at = meta["drained_at"]
        for live in (engine.w_live, engine.s_live, engine.p_live):
            live.rotate(engine.now)  # the time the windows are read at
        for buckets in (*engine.w_hist, *engine.s_hist, *engine.p_hist):
            buckets.rotate(engine.now)
        return engine


def _codes(texts: list[str], table: list[str], index: dict[str, int], empty_is_none: bool) -> I64:
    """Codes of ``texts`` in ``table`` (``index``: text -> code), adding new ones; with
    ``empty_is_none``, an empty text is none (-1)."""
    codes = []
    for text in texts:
        code = index.get(text)
        if code is None:
            if empty_is_none and not text:
                codes.append(-1)
                continue
            code = index[text] = len(table)
            table.append(text)
        codes.append(code)
    return np.array(codes, dtype=np.int64)
