"""Settlement of a 30-day simulated fleet: the requirement is that it settles in <= 10 s.

The work is produced as the server produces it: a simulated fleet's shares (one per miner
per ``share_interval_s``, hour by hour) go through ``Engine.apply``, whose work book splits
them by UTC day and network state, and daily flushes book them with the store's upsert. The
network changes as the poller records it with default settings: a fee update every hour,
two difficulty retargets and a halving at odd times of day. A quarter of the sub-accounts
are FPPS and a tenth have their own fee rate.

Two runs are timed on copies of the same database: all 30 days in one ``settle`` call (a
server that was down for a month), and day by day (30 calls, as the server does).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from poolstats.domain.share import quantize_diff
from poolstats.engine.engine import Engine, ShareBatch
from poolstats.simulate.fleet import Fleet
from poolstats.store import ledger, schema
from poolstats.store.sqlite import DB_FILE, SqliteStore

DAY = 86_400
START = 20_600 * DAY  # 2026-05-27 00:00 UTC
FEE = Fraction(2, 100)
HALVING = 1_050_000


def _network(store: SqliteStore, days: int) -> None:
    """Hourly fee updates; retargets on day 10 at 12:34 and day 24 at 03:00; the halving
    (height 1,050,000) on day 17 at 13:17."""
    rng = np.random.default_rng(3)
    retargets = {START + 10 * DAY + 45240: "1.21e14", START + 24 * DAY + 10800: "1.26e14"}
    halving_at = START + 17 * DAY + 47820
    times = sorted(set(range(START, START + days * DAY, 3600)) | set(retargets) | {halving_at})
    difficulty = "118003456123456.25"
    for at in times:
        difficulty = retargets.get(at, difficulty)
        height = HALVING if at >= halving_at else HALVING - 1
        fees = int(rng.integers(2_000_000, 40_000_000))
        store.record_network(at, difficulty, height, fees, "rpc", at)


def _populate(data_dir: Path, users: int, workers: int, days: int, interval_s: float) -> int:
    with SqliteStore.open(data_dir) as store:
        puids = [store.create_user(f"user{i:05d}", START).puid for i in range(users)]
        for i, puid in enumerate(puids):
            fields: dict[str, Any] = {}
            if i % 4 == 0:
                fields["payment_mode"] = "FPPS"
            if i % 10 == 0:
                fields["fee_rate"] = "0.015"
            if fields:
                store.update_subaccount_profile(puid, fields, START)
        _network(store, days)
        engine = Engine()
        engine.timeline = ledger.timeline(store)
        puid_of = {f"user{i:05d}": p for i, p in enumerate(puids)}
        fleet = Fleet(
            list(puid_of),
            workers,
            seed=11,
            start=START,
            target_interval_s=interval_s,
            churn_per_hour=0.0,
        )
        shares = 0
        for hour in range(1, days * 24 + 1):
            now = START + hour * 3600
            s = fleet.advance(now)
            owner = [puid_of[s.users[u]] for u in s.user_idx.tolist()]
            names = [s.workers[w] for w in s.worker_idx.tolist()]
            rows = engine.worker_rows(owner, names)
            engine.apply(
                ShareBatch(rows, s.ts, quantize_diff(s.diff), s.status, np.full(len(s), -1)),
                now,
            )
            shares += len(s)
            if hour % 24 == 0:
                store.write_flush(engine.drain(now))
        return shares


def _count(store: SqliteStore, table: sa.Table) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def run(
    users: int = 1000, workers: int = 10, days: int = 30, interval_s: float = 3600.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        shares = _populate(base / "a", users, workers, days, interval_s)
        populate_s = time.perf_counter() - started
        (base / "b").mkdir()
        shutil.copy(base / "a" / DB_FILE, base / "b" / DB_FILE)  # closed: no WAL to copy
        now = START + days * DAY + 600
        last = START + (days - 1) * DAY
        with SqliteStore.open(base / "a") as store:
            work_rows = _count(store, schema.work)
            network_rows = _count(store, schema.network_history)
            started = time.perf_counter()
            once = ledger.settle(store, last, now, FEE)
            once_s = time.perf_counter() - started
            totals_once = ledger.totals(store)
        with SqliteStore.open(base / "b") as store:
            per_day = []
            for day in range(START, last + 1, DAY):
                started = time.perf_counter()
                ledger.settle(store, day, now, FEE)
                per_day.append(time.perf_counter() - started)
            totals_daily = ledger.totals(store)
    return {
        "subaccounts": users,
        "miners": users * workers,
        "days": days,
        "shares": shares,
        "network_entries": network_rows,
        "work_rows": work_rows,
        "earnings_rows": once.rows,
        "total_btc": round(once.total_sat / 1e8, 8),
        "populate_s": round(populate_s, 1),
        "settle_all_days_s": round(once_s, 2),
        "settle_day_by_day_s": round(sum(per_day), 2),
        "slowest_day_s": round(max(per_day), 3),
        "same_totals": totals_once == totals_daily,
    }


if __name__ == "__main__":
    print(run())
