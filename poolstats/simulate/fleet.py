"""A seeded, pure model of a mining fleet that produces share events.

Used by the demo and by tests to feed ``POST /ingest/shares`` with realistic traffic. Nothing
here reads a clock or does I/O: time is always an argument, so the same seed and the same
sequence of ``advance`` calls give the same shares.

Model, per miner: a hashrate ``H`` (log-normal around 100 TH/s for ASICs, plus a tail of small
miners, log-uniform between 10 GH/s and 1 TH/s), a vardiff-like share difficulty ``d`` (the
power of two nearest ``H * target_interval_s / 2**32``) and a reject rate ``r`` in 1-3 %.
Accepted shares arrive as a Poisson process of rate ``H / (d * 2**32)``, so the hashrate the
pool computes from accepted shares is ``H`` in expectation; rejected and stale shares come on
top (total rate divided by ``1 - r``), as the extra work a real miner wastes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
import numpy.typing as npt

from poolstats.domain.arrays import F64, I64, U8
from poolstats.domain.workers import normalize_worker_name
from poolstats.ingest.columnar import encode_columnar

TWO_32 = 2.0**32
ACCEPT, REJECT, STALE = 0, 1, 2

#: Worker names that exercise normalisation (``{n}`` keeps them distinct once normalised).
ODD_WORKER_NAMES = (
    "S19-α.b{n}",  # -> S19-.b12
    "Antminer S19j Pro #{n}",  # -> AntminerS19jPro12
    "{n:04d}.antminer-s19-xp-hydro-rack-east",  # -> truncated to 20 characters
    "L7 (garage) {n}",  # -> L7garage12
    "矿机-{n}",  # -> -12
    "rig_{n}/tent",  # -> rig12/tent
    "ασικ",  # -> __default__ (only once per user: later ones fall back to rig####)
)
#: The documentation address ranges (RFC 5737, RFC 3849): never a real host.
IPV4_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")


class _Event(msgspec.Struct, omit_defaults=True):
    """One NDJSON share line, field names as in the ingest contract."""

    ts: float
    user: str
    worker: str
    diff: float
    accepted: bool | None = None
    status: str | None = None
    ip: str | None = None


_JSON = msgspec.json.Encoder()
_ACCEPTED: tuple[bool | None, ...] = (True, False, None)
_STATUS: tuple[str | None, ...] = (None, None, "stale")


@dataclass(frozen=True)
class Shares:
    """A batch of shares as columns (ts ascending), names dictionary-encoded.

    Ready for either wire format; the dictionaries hold only names the batch uses.
    """

    ts: F64
    diff: F64
    status: U8  # 0 accept, 1 reject, 2 stale
    user_idx: I64
    users: list[str]
    worker_idx: I64
    workers: list[str]
    ip_idx: I64
    ips: list[str]

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> Shares:
        f, i = np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64)
        return cls(f, f, np.empty(0, dtype=np.uint8), i, [], i, [], i, [])

    def slice(self, start: int, stop: int) -> Shares:
        """Rows ``start:stop``, sharing the dictionaries (views, no copies)."""
        s = slice(start, stop)
        return Shares(
            ts=self.ts[s],
            diff=self.diff[s],
            status=self.status[s],
            user_idx=self.user_idx[s],
            users=self.users,
            worker_idx=self.worker_idx[s],
            workers=self.workers,
            ip_idx=self.ip_idx[s],
            ips=self.ips,
        )

    @classmethod
    def concat(cls, parts: Sequence[Shares]) -> Shares:
        """One batch from several (in the given order), with merged dictionaries.

        Lets a sender that fell behind catch up in a few large requests instead of many.
        """
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()

        def merge(lists: list[list[str]], idxs: list[I64]) -> tuple[I64, list[str]]:
            table: dict[str, int] = {}
            out = []
            for names, idx in zip(lists, idxs, strict=True):
                remap = np.array([table.setdefault(n, len(table)) for n in names], dtype=np.int64)
                out.append(remap[idx] if len(remap) else idx)
            return np.concatenate(out), list(table)

        user_idx, users = merge([p.users for p in parts], [p.user_idx for p in parts])
        worker_idx, workers = merge([p.workers for p in parts], [p.worker_idx for p in parts])
        ip_idx, ips = merge([p.ips for p in parts], [p.ip_idx for p in parts])
        return cls(
            ts=np.concatenate([p.ts for p in parts]),
            diff=np.concatenate([p.diff for p in parts]),
            status=np.concatenate([p.status for p in parts]),
            user_idx=user_idx,
            users=users,
            worker_idx=worker_idx,
            workers=workers,
            ip_idx=ip_idx,
            ips=ips,
        )

    def rows(self) -> list[tuple[float, str, str, float, int, str]]:
        """``(ts, user, worker, diff, status, ip)`` per share: for comparisons in tests."""
        return list(
            zip(
                self.ts.tolist(),
                [self.users[i] for i in self.user_idx.tolist()],
                [self.workers[i] for i in self.worker_idx.tolist()],
                self.diff.tolist(),
                self.status.tolist(),
                [self.ips[i] for i in self.ip_idx.tolist()],
                strict=True,
            )
        )

    def to_ndjson(self) -> bytes:
        """One JSON object per line: ``accepted`` true/false, or ``status: "stale"``."""
        users, workers, ips = self.users, self.workers, self.ips
        events = [
            _Event(
                ts=t,
                user=users[u],
                worker=workers[w],
                diff=d,
                accepted=_ACCEPTED[s],
                status=_STATUS[s],
                ip=ips[i],
            )
            for t, u, w, d, s, i in zip(
                self.ts.tolist(),
                self.user_idx.tolist(),
                self.worker_idx.tolist(),
                self.diff.tolist(),
                self.status.tolist(),
                self.ip_idx.tolist(),
                strict=True,
            )
        ]
        return _JSON.encode_lines(events)

    def to_columnar(self) -> bytes:
        """The binary columnar batch (``poolstats.ingest.columnar.CONTENT_TYPE``)."""
        return encode_columnar(
            self.ts,
            self.diff,
            self.status,
            self.workers,
            self.worker_idx,
            users=self.users,
            user_idx=self.user_idx,
            ips=self.ips,
            ip_idx=self.ip_idx,
        )


@dataclass(frozen=True)
class Miner:
    """One miner as the model sees it (for tests, inspection and the demo banner)."""

    user: str
    worker: str
    ip: str
    hashrate_hs: float
    diff: float
    reject_rate: float
    started_at: float
    stopped_at: float | None  # None: still running


class Fleet:
    """Miners of several sub-accounts that submit shares as time advances.

    ``churn_per_hour`` is the fraction of running miners that stop per hour (a stopped miner
    never comes back, so the pool sees it go inactive, then dead); ``arrivals_per_hour`` new
    miners appear per hour (default: as many as churn removes from the initial fleet, so the
    fleet keeps its size). New miners join random users among ``users``.
    """

    def __init__(
        self,
        users: list[str],
        workers_per_user: int,
        seed: int,
        start: float,
        *,
        target_interval_s: float = 10.0,
        asic_median_hs: float = 100e12,
        asic_sigma: float = 0.3,
        small_fraction: float = 0.1,
        small_range_hs: tuple[float, float] = (10e9, 1e12),
        reject_range: tuple[float, float] = (0.01, 0.03),
        stale_fraction: float = 0.3,
        churn_per_hour: float = 0.02,
        arrivals_per_hour: float | None = None,
        odd_name_fraction: float = 0.05,
        ipv6_fraction: float = 0.1,
        min_diff: float = 1.0,
        max_diff: float = 2.0**40,
    ) -> None:
        if not users:
            raise ValueError("users: at least one sub-account is needed")
        if workers_per_user < 0:
            raise ValueError("workers_per_user: must be >= 0")
        if not 0 <= reject_range[0] <= reject_range[1] < 1:
            raise ValueError("reject_range: need 0 <= low <= high < 1")
        self.users = list(users)
        self.target_interval_s = target_interval_s
        self._asic = (math.log(asic_median_hs), asic_sigma)
        self._small_fraction = small_fraction
        self._small_log = (math.log(small_range_hs[0]), math.log(small_range_hs[1]))
        self._reject_range = reject_range
        self._stale_fraction = stale_fraction
        self._churn_rate = churn_per_hour / 3600.0
        if arrivals_per_hour is None:
            arrivals_per_hour = churn_per_hour * workers_per_user * len(users)
        self._arrival_rate = arrivals_per_hour / 3600.0
        self._odd_fraction = odd_name_fraction
        self._ipv6_fraction = ipv6_fraction
        self._log2_diff = (math.log2(min_diff), math.log2(max_diff))
        self._rng = np.random.default_rng(seed)
        self._t = float(start)

        # Name tables (each distinct name once) and per-miner columns indexing them.
        self._workers: list[str] = []
        self._ips: list[str] = []
        self._ip_ids: dict[str, int] = {}
        self._next_worker_no = [1] * len(self.users)
        self._normalized: list[set[str]] = [set() for _ in self.users]
        self._user = np.empty(0, dtype=np.int64)
        self._worker = np.empty(0, dtype=np.int64)
        self._ip = np.empty(0, dtype=np.int64)
        self._hashrate = np.empty(0, dtype=np.float64)
        self._diff = np.empty(0, dtype=np.float64)
        self._reject = np.empty(0, dtype=np.float64)
        self._started = np.empty(0, dtype=np.float64)
        self._stopped = np.empty(0, dtype=np.float64)  # inf while running

        n = workers_per_user * len(self.users)
        user_of = np.repeat(np.arange(len(self.users), dtype=np.int64), workers_per_user)
        self._add_miners(user_of, np.full(n, self._t))

    # -- queries ------------------------------------------------------------------------------

    @property
    def time(self) -> float:
        """The instant the fleet has been advanced to."""
        return self._t

    def __len__(self) -> int:
        """Number of miners ever seen (running or stopped)."""
        return len(self._user)

    def running_count(self, at: float | None = None) -> int:
        return int(self._running_mask(self._t if at is None else at).sum())

    def expected_hashrate_hs(self, at: float | None = None) -> float:
        """Total true hashrate of the miners running at ``at`` (default: ``time``).

        This is what the pool should report from accepted shares, in expectation.
        """
        mask = self._running_mask(self._t if at is None else at)
        return float(self._hashrate[mask].sum())

    def miners(self) -> list[Miner]:
        """Every miner ever seen, in creation order (O(n): meant for small fleets and tests)."""
        return [
            Miner(
                user=self.users[u],
                worker=self._workers[w],
                ip=self._ips[i],
                hashrate_hs=h,
                diff=d,
                reject_rate=r,
                started_at=s,
                stopped_at=None if math.isinf(e) else e,
            )
            for u, w, i, h, d, r, s, e in zip(
                self._user.tolist(),
                self._worker.tolist(),
                self._ip.tolist(),
                self._hashrate.tolist(),
                self._diff.tolist(),
                self._reject.tolist(),
                self._started.tolist(),
                self._stopped.tolist(),
                strict=True,
            )
        ]

    def _running_mask(self, at: float) -> npt.NDArray[np.bool_]:
        return (self._started <= at) & (at < self._stopped)

    # -- the model ----------------------------------------------------------------------------

    def advance(self, now: float) -> Shares:
        """Every share submitted in ``(time, now]``, sorted by ``ts``; then ``time = now``."""
        last = self._t
        if now < last:
            raise ValueError(f"now={now} is before the fleet's time {last}: time only advances")
        if now == last:
            return Shares.empty()
        rng = self._rng
        dt = now - last

        arrivals = int(rng.poisson(self._arrival_rate * dt)) if self._arrival_rate > 0 else 0
        if arrivals:
            owners = rng.integers(0, len(self.users), size=arrivals)
            self._add_miners(owners, now - rng.random(arrivals) * dt)  # started in (last, now]

        live = np.flatnonzero(self._stopped > last)  # running at some point after `last`
        begin = np.maximum(self._started[live], last)
        if self._churn_rate > 0 and len(live):
            span = now - begin
            stops = rng.random(len(live)) < -np.expm1(-self._churn_rate * span)
            if stops.any():
                stop_at = now - rng.random(int(stops.sum())) * span[stops]
                self._stopped[live[stops]] = stop_at
        end = np.minimum(self._stopped[live], now)
        span = np.maximum(end - begin, 0.0)

        reject = self._reject[live]
        rate = self._hashrate[live] / (self._diff[live] * TWO_32 * (1.0 - reject))
        counts = rng.poisson(rate * span)
        total = int(counts.sum())
        if total == 0:
            self._t = now
            return Shares.empty()
        miner = np.repeat(live, counts)
        k = np.repeat(np.arange(len(live)), counts)
        lo, hi = begin[k], end[k]
        ts = hi - rng.random(total) * (hi - lo)  # in (lo, hi] up to rounding, fixed next
        ts = np.maximum(ts, np.nextafter(lo, np.inf))
        rejected = rng.random(total) < reject[k]
        stale = rejected & (rng.random(total) < self._stale_fraction)
        status = rejected.astype(np.uint8) + stale.astype(np.uint8)

        order = np.argsort(ts, kind="stable")
        miner, ts, status = miner[order], ts[order], status[order]
        self._t = now
        user_idx, users = _compact(self._user[miner], self.users)
        worker_idx, workers = _compact(self._worker[miner], self._workers)
        ip_idx, ips = _compact(self._ip[miner], self._ips)
        return Shares(
            ts=ts,
            diff=self._diff[miner],
            status=status,
            user_idx=user_idx,
            users=users,
            worker_idx=worker_idx,
            workers=workers,
            ip_idx=ip_idx,
            ips=ips,
        )

    def _add_miners(self, user_of: I64, started: F64) -> None:
        """Draw hashrate, difficulty, reject rate, name and address for new miners."""
        rng = self._rng
        n = len(user_of)
        if n == 0:
            return
        small = rng.random(n) < self._small_fraction
        asic = np.exp(rng.normal(self._asic[0], self._asic[1], n))
        tiny = np.exp(rng.uniform(self._small_log[0], self._small_log[1], n))
        hashrate = np.where(small, tiny, asic)
        log2_diff = np.round(np.log2(hashrate * self.target_interval_s / TWO_32))
        diff = np.exp2(np.clip(log2_diff, *self._log2_diff))
        reject = rng.uniform(self._reject_range[0], self._reject_range[1], n)

        odd = rng.random(n) < self._odd_fraction
        template = rng.integers(0, len(ODD_WORKER_NAMES), n)
        worker_ids = [
            self._new_worker(u, ODD_WORKER_NAMES[t] if o else None)
            for u, o, t in zip(user_of.tolist(), odd.tolist(), template.tolist(), strict=True)
        ]

        v6 = rng.random(n) < self._ipv6_fraction
        prefix = rng.integers(0, len(IPV4_PREFIXES), n)
        host = rng.integers(1, 255, n)
        groups = rng.integers(0, 0x10000, (n, 3))
        ip_ids = [
            self._ip_id(
                f"2001:db8:{g[0]:x}:{g[1]:x}::{g[2]:x}" if six else f"{IPV4_PREFIXES[p]}{h}"
            )
            for six, p, h, g in zip(
                v6.tolist(), prefix.tolist(), host.tolist(), groups.tolist(), strict=True
            )
        ]

        self._user = np.concatenate([self._user, user_of.astype(np.int64)])
        self._worker = np.concatenate([self._worker, np.array(worker_ids, dtype=np.int64)])
        self._ip = np.concatenate([self._ip, np.array(ip_ids, dtype=np.int64)])
        self._hashrate = np.concatenate([self._hashrate, hashrate])
        self._diff = np.concatenate([self._diff, diff])
        self._reject = np.concatenate([self._reject, reject])
        self._started = np.concatenate([self._started, started.astype(np.float64)])
        self._stopped = np.concatenate([self._stopped, np.full(n, np.inf)])

    def _new_worker(self, user: int, template: str | None) -> int:
        """A worker name unique within its user even after normalisation (so that the pool
        counts exactly the miners the model has)."""
        n = self._next_worker_no[user]
        self._next_worker_no[user] = n + 1
        seen = self._normalized[user]
        name = f"rig{n:04d}"
        if template is not None:
            odd = template.format(n=n)
            if normalize_worker_name(odd) not in seen:
                name = odd
        seen.add(normalize_worker_name(name))
        self._workers.append(name)
        return len(self._workers) - 1

    def _ip_id(self, ip: str) -> int:
        i = self._ip_ids.get(ip)
        if i is None:
            i = self._ip_ids[ip] = len(self._ips)
            self._ips.append(ip)
        return i


def _compact(ids: I64, names: list[str]) -> tuple[I64, list[str]]:
    """Re-index ``ids`` into a dictionary of only the names used."""
    used, idx = np.unique(ids, return_inverse=True)
    return idx.astype(np.int64, copy=False), [names[i] for i in used.tolist()]
