"""Workers' rows written by ``WorkerRows.plain``: a flush that updates only the accepted
figures of its plain rows leaves every worker row as a flush that writes them whole would.

An engine fed a random share stream (rejects and stale shares, changing addresses, workers
that fall silent and come back, an hour and a restart in between) flushes into two SQLite
stores: one as the flushes come (on each backend), one with the hint taken out (SQLite).
Their worker rows must be equal after every flush.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from poolstats.domain.share import Status
from poolstats.engine.engine import Engine
from poolstats.engine.snapshot import Flush
from poolstats.store import schema
from poolstats.store.sql import SqlStore
from poolstats.store.sqlite import SqliteStore
from tests.engine.helpers import T0, batch
from tests.store.helpers import make_flush

WORKERS = [(puid, f"rig{i}") for puid in (1, 2) for i in range(12)]
HOUR = T0 + 3600
IPS = ["192.0.2.1", "192.0.2.2", "198.51.100.7"]


def rows(store: SqlStore) -> list[dict[str, Any]]:
    with store.read() as conn:
        w = schema.workers
        found = conn.execute(sa.select(w).order_by(w.c.puid, w.c.worker_id))
        return [dict(r._mapping) for r in found]


def stream(rng: random.Random, at: int) -> list[tuple[int, str, float, float, Status]]:
    """Shares of the 10 s before ``at``: most workers mine, a few are silent for a while;
    none rejected or stale in the 20 minutes before the hour closes (so that workers with
    such shares in the closing bucket only are plain when it closes)."""
    odd = 0 if HOUR - 1200 <= at < HOUR else 3
    shares = []
    for i, (puid, name) in enumerate(WORKERS):
        if (at // 1200 + i) % 5 == 0:  # silent for 20 minutes of every 100
            continue
        for _ in range(rng.randint(0, 3)):
            status = rng.choices(list(Status), weights=[994 - 2 * odd, odd, odd])[0]
            late = rng.random() < 0.02  # now and then a share from minutes ago
            ts = at - (rng.uniform(60, 1800) if late else rng.uniform(0, 10))
            shares.append((puid, name, ts, rng.choice([1000.0, 4000.0]), status))
    return shares


@pytest.mark.parametrize("seed", [1, 2])
def test_plain_rows_end_as_rows_written_whole(tmp_path: Path, seed: int, store: SqlStore) -> None:
    """The hinted store is each backend in turn; the one written whole is SQLite."""
    rng = random.Random(seed)
    engine = Engine()
    hinted = store
    whole = SqliteStore.open(tmp_path / "whole")
    plain_rows = whole_rows = 0
    try:
        at = HOUR - 40 * 60  # the hour closes in the middle
        for step in range(260):
            at += 10
            shares = stream(rng, at)
            if shares:
                ips = [rng.choice(IPS) if rng.random() < 0.03 else "192.0.2.1" for _ in shares]
                engine.apply(batch(engine, shares, ips), at)
            if step == 150:  # a restart, as a node recovers: checkpoint, then open buckets
                engine = Engine.restore(engine.export())
                for period_s in engine.config.worker_periods:
                    start, puids, names, sums = hinted.open_buckets(period_s)
                    engine.load_open(period_s, start, puids, names, sums)
            flush = engine.drain(at)
            assert flush.workers.plain is not None
            plain_rows += int(flush.workers.plain.sum())
            whole_rows += int((flush.workers.stored & ~flush.workers.plain).sum())
            hinted.write_flush(flush)
            whole.write_flush(without_hint(flush))
            assert rows(hinted) == rows(whole), f"after the flush at {at - T0} s"
    finally:
        hinted.close()
        whole.close()
    # both kinds of stored rows were written, plenty of each
    assert plain_rows > 1000 and whole_rows > 300, (plain_rows, whole_rows)


def without_hint(flush: Flush) -> Flush:
    return dataclasses.replace(flush, workers=dataclasses.replace(flush.workers, plain=None))


def test_a_plain_row_gets_its_accepted_figures_and_keeps_the_rest(tmp_path: Path) -> None:
    """What the hint allows: the figures it names as stored already are not written again
    (here they differ on purpose, to see which were written), the others are; a deleted
    worker that sends shares again is back in the default group as with a whole row."""
    store = SqliteStore.open(tmp_path)
    try:
        first = {"puid": 1, "worker_id": 10, "ip": "192.0.2.1", "reject_count": 3,
                 "sums": {"accept_1m": 5.0, "reject_15m": 2.0}, "last_share_time": 100}  # fmt: skip
        store.write_flush(make_flush(workers=[first]))
        assert store.move_workers(1, [10], schema.GROUP_DELETED, now=0)
        second = make_flush(
            workers=[{**first, "ip": "198.51.100.7", "reject_count": 9, "accept_count": 4,
                      "sums": {"accept_1m": 7.0, "reject_15m": 8.0}, "last_share_time": 200}]
        )  # fmt: skip
        w = dataclasses.replace(second.workers, stored=np.ones(1, bool), plain=np.ones(1, bool))
        store.write_flush(dataclasses.replace(second, workers=w))
        row = store.worker(1, 10)
        assert row is not None
        assert (row["accept_1m"], row["accept_count"], row["last_share_time"]) == (7.0, 4, 200)
        assert (row["reject_15m"], row["reject_count"], row["last_share_ip"]) == (
            2.0, 3, "192.0.2.1",
        )  # fmt: skip
        assert row["group_id"] == schema.GROUP_DEFAULT
    finally:
        store.close()
