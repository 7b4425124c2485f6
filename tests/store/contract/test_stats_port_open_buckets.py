"""Workers' open history buckets, kept in their worker rows (migration 0012), on both backends:
what ``history`` and ``open_buckets`` answer, as the bucket opens, grows and closes."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command

from poolstats.engine.snapshot import Flush, Level, OpenBuckets
from poolstats.store.migration import alembic_config
from poolstats.store.sql import SqlStore
from tests.store.helpers import DAY, HOUR, NOW, delta, f64, make_flush

H0 = NOW - NOW % HOUR
H1 = H0 + HOUR
D0 = NOW - NOW % DAY
WORKERS = [  # (puid, worker_id, name)
    (1, 10, "a"),
    (1, 11, "b"),
    (1, 12, "idle"),
    (2, 20, "c"),
]


def flush(
    now: int,
    hour: tuple[int, list[tuple[float, float, float]]],
    day: tuple[int, list[tuple[float, float, float]]] | None = None,
    stored: bool | None = None,
    history: list[Any] | None = None,
    seq: int = 0,
) -> Flush:
    """A flush of every worker in ``WORKERS`` with its open buckets: (start, per worker
    (accept, stale, reject))."""
    f = make_flush(
        now=now,
        seq=seq,
        workers=[{"puid": p, "worker_id": w, "name": n} for p, w, n in WORKERS],
        history=history,
    )

    def open_(period: int, start: int, sums: list[tuple[float, float, float]]) -> OpenBuckets:
        a, s, r = zip(*sums, strict=True)
        return OpenBuckets(period, start, f64(list(a)), f64(list(s)), f64(list(r)))

    opens = [open_(HOUR, *hour)] + ([open_(DAY, *day)] if day else [])
    marks = None if stored is None else np.full(len(WORKERS), stored)
    workers = dataclasses.replace(f.workers, open=tuple(opens), stored=marks)
    return dataclasses.replace(f, workers=workers)


def got(rows: list[dict[str, Any]]) -> list[tuple[int, int, float, float, float]]:
    return [(r["start"], r["worker_id"], r["accept"], r["stale"], r["reject"]) for r in rows]


HOUR_SUMS = [(4.0, 1.0, 0.5), (8.0, 0.0, 0.0), (0.0, 0.0, 0.0), (16.0, 0.0, 2.0)]
DAY_SUMS = [(40.0, 1.0, 0.5), (80.0, 0.0, 0.0), (0.0, 0.0, 0.0), (160.0, 0.0, 2.0)]


def test_history_adds_the_open_bucket_to_a_row_of_the_same_start(store: SqlStore) -> None:
    early = [(1, 10, H0, 2.0, 0.0, 0.25)]  # shares an earlier flush booked as increments
    store.write_flush(flush(NOW, (H0, HOUR_SUMS), (D0, DAY_SUMS), history=[
        delta(Level.WORKER, HOUR, early)
    ]))  # fmt: skip
    want = [(H0, 10, 4.0 + 2.0, 1.0, 0.5 + 0.25), (H0, 11, 8.0, 0.0, 0.0)]
    assert got(store.history(Level.WORKER, HOUR, 1)) == want
    assert got(store.history(Level.WORKER, HOUR, 1, 11)) == [want[1]]
    assert got(store.history(Level.WORKER, HOUR, 2)) == [(H0, 20, 16.0, 0.0, 2.0)]
    assert got(store.history(Level.WORKER, DAY, 1, 10)) == [(D0, 10, 40.0, 1.0, 0.5)]
    assert store.history(Level.WORKER, HOUR, 1, start_from=H0 + 1) == []
    assert store.history(Level.WORKER, HOUR, 1, start_to=H0) == []
    # the sub-account level is not kept open: nothing is added there
    assert store.history(Level.SUBACCOUNT, HOUR, 1) == []


def test_open_buckets_are_the_newest_nonzero_ones(store: SqlStore) -> None:
    assert store.open_buckets(HOUR)[:3] == (0, [], [])
    store.write_flush(flush(NOW, (H0, HOUR_SUMS), (D0, DAY_SUMS)))
    start, puids, names, sums = store.open_buckets(HOUR)
    assert start == H0
    found = sorted(zip(puids, names, sums.T.tolist(), strict=True))
    # sums as the engine takes them: accept, reject, stale; the idle worker has none
    assert found == [
        (1, "a", [4.0, 0.5, 1.0]),
        (1, "b", [8.0, 0.0, 0.0]),
        (2, "c", [16.0, 2.0, 0.0]),
    ]
    day_start, _, day_names, day_sums = store.open_buckets(DAY)
    assert (day_start, sorted(day_names)) == (D0, ["a", "b", "c"])
    assert sorted(day_sums[0].tolist()) == [40.0, 80.0, 160.0]


@pytest.mark.parametrize("stored", [None, True])
def test_a_closed_bucket_becomes_a_history_row_and_the_next_one_opens(
    store: SqlStore, stored: bool | None
) -> None:
    """The flush after the hour closes brings its increments and the rows' next bucket;
    every row is written by UPDATE when the flush says so (``stored``)."""
    store.write_flush(flush(NOW, (H0, HOUR_SUMS), seq=1))
    closed = [(p, w, H0, *HOUR_SUMS[i]) for i, (p, w, _) in enumerate(WORKERS) if any(HOUR_SUMS[i])]
    nxt = [(1.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (3.0, 0.5, 0.0)]
    store.write_flush(
        flush(H1 + 5, (H1, nxt), stored=stored, seq=2, history=[
            delta(Level.WORKER, HOUR, closed)
        ])
    )  # fmt: skip
    assert got(store.history(Level.WORKER, HOUR, 1)) == [
        (H0, 10, 4.0, 1.0, 0.5),
        (H0, 11, 8.0, 0.0, 0.0),
        (H1, 10, 1.0, 0.0, 0.0),
    ]
    assert got(store.history(Level.WORKER, HOUR, 2, 20)) == [
        (H0, 20, 16.0, 0.0, 2.0),
        (H1, 20, 3.0, 0.5, 0.0),
    ]
    start, _, names, _ = store.open_buckets(HOUR)
    assert (start, sorted(names)) == (H1, ["a", "c"])
    assert store.history_seq() == 2


def test_a_worker_taken_for_stored_that_is_not_gets_its_row(store: SqlStore) -> None:
    """``stored`` is a hint: a row it names that the store lacks (a failed flush) is made."""
    store.write_flush(flush(NOW, (H0, HOUR_SUMS), stored=True))
    assert sorted(w["worker_name"] for w in store.workers(1)) == ["a", "b", "idle"]
    row = store.worker(2, 20)
    assert row is not None
    assert (row["hour_start"], row["hour_accept"], row["hour_reject"]) == (H0, 16.0, 2.0)
    assert (row["day_start"], row["day_accept"]) == (0, 0.0)  # the flush had no day bucket


def test_open_buckets_of_a_period_without_columns_are_refused(store: SqlStore) -> None:
    f = flush(NOW, (H0, HOUR_SUMS))
    odd = dataclasses.replace(f.workers.open[0], period_s=900, start=NOW - NOW % 900)
    bad = dataclasses.replace(f, workers=dataclasses.replace(f.workers, open=(odd,)))
    with pytest.raises(ValueError, match="900"):
        store.write_flush(bad)
    assert store.workers(1) == []


def migrate(store: SqlStore, revision: str, down: bool = False) -> None:
    with store.write() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_migration_0012_down_moves_open_buckets_into_history_and_up_again(
    store: SqlStore,
) -> None:
    """Before 0012 a bucket's sums so far were history rows: the downgrade writes them there
    (added to a row of the same start; on PostgreSQL into a partition it makes)."""
    early = [(1, 10, H0, 2.0, 0.0, 0.0)]
    store.write_flush(
        flush(NOW, (H0, HOUR_SUMS), (D0, DAY_SUMS), history=[delta(Level.WORKER, HOUR, early)])
    )
    before_hour = got(store.history(Level.WORKER, HOUR, 1))
    before_day = got(store.history(Level.WORKER, DAY, 2))
    migrate(store, "0011", down=True)
    with store.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("workers")}
    assert "hour_start" not in columns and "day_accept" not in columns
    migrate(store, "head")
    assert got(store.history(Level.WORKER, HOUR, 1)) == before_hour  # now all history rows
    assert got(store.history(Level.WORKER, DAY, 2)) == before_day
    assert store.open_buckets(HOUR)[:3] == (0, [], [])
    row = store.worker(1, 10)
    assert row is not None and (row["hour_start"], row["hour_accept"]) == (0, 0.0)
