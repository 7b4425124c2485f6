"""Workers' first share time and miner agent (migration 0014) on both backends: the earliest
first share time a flush gave (0: unknown) and the newest non-empty agent; written by the
upsert of rows whose facts are new, left alone by the updates of the others."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from poolstats.domain.share import Status
from poolstats.engine.engine import Engine
from poolstats.store import checkpoint
from poolstats.store.sql import SqlStore
from tests.engine.helpers import batch
from tests.store.helpers import NOW, make_flush, migrate, raw


def worker(**given: Any) -> dict[str, Any]:
    return {"puid": 1, "worker_id": 10, "name": "rig1", **given}


def facts(store: SqlStore, puid: int = 1, worker_id: int = 10) -> tuple[int, str]:
    row = store.worker(puid, worker_id)
    assert row is not None
    return row["first_share_time"], row["miner_agent"]


def test_a_new_row_gets_its_facts_and_unknown_ones_without_them(store: SqlStore) -> None:
    store.write_flush(
        make_flush(
            workers=[
                worker(first=NOW - 50, agent="cgminer/4.10.0"),
                {"puid": 1, "worker_id": 11, "name": "rig2", "first": 0, "agent": ""},
            ]
        )
    )
    assert facts(store) == (NOW - 50, "cgminer/4.10.0")
    assert facts(store, 1, 11) == (0, "")
    store.write_flush(make_flush(workers=[{"puid": 2, "worker_id": 20}]))  # facts not given
    assert facts(store, 2, 20) == (0, "")


def test_new_facts_merge_earliest_time_and_newest_agent(store: SqlStore) -> None:
    store.write_flush(make_flush(workers=[worker(first=NOW - 50, agent="cgminer/4.10.0")]))
    steps = [  # (first, agent given) -> (first, agent) stored
        ((NOW - 10, "bmminer/2.0.0"), (NOW - 50, "bmminer/2.0.0")),  # later: never moves on
        ((0, ""), (NOW - 50, "bmminer/2.0.0")),  # unknown and none keep what is there
        ((NOW - 80, ""), (NOW - 80, "bmminer/2.0.0")),  # earlier: moves back
    ]
    for (first, agent), want in steps:
        given = worker(first=first, agent=agent, stored=True, new_facts=True)
        store.write_flush(make_flush(workers=[given]))
        assert facts(store) == want


def test_an_unknown_stored_time_takes_the_first_one_given(store: SqlStore) -> None:
    store.write_flush(make_flush(workers=[worker(first=0, agent="")]))
    given = worker(first=NOW - 5, agent="", stored=True, new_facts=True)
    store.write_flush(make_flush(workers=[given]))
    assert facts(store) == (NOW - 5, "")


def test_updates_of_rows_without_new_facts_leave_them_alone(store: SqlStore) -> None:
    """The narrow updates (both backends, plain rows too) carry no facts at all."""
    store.write_flush(make_flush(workers=[worker(first=NOW - 50, agent="cgminer/4.10.0")]))
    for plain in (False, True):
        given = worker(first=NOW - 99, agent="other/1", stored=True, new_facts=False,
                       accept_count=7 + plain, sums={"accept_1m": 2.0})  # fmt: skip
        f = make_flush(workers=[given])
        if plain:  # only the accepted figures are written
            f = dataclasses.replace(
                f, workers=dataclasses.replace(f.workers, plain=np.array([True]))
            )
        store.write_flush(f)
        row = store.worker(1, 10)
        assert row is not None and row["accept_count"] == 7 + plain  # the update happened
        assert facts(store) == (NOW - 50, "cgminer/4.10.0")


def test_a_row_taken_for_stored_that_is_not_gets_its_facts(store: SqlStore) -> None:
    given = worker(first=NOW - 50, agent="cgminer/4.10.0", stored=True, new_facts=False)
    store.write_flush(make_flush(workers=[given]))
    assert facts(store) == (NOW - 50, "cgminer/4.10.0")


def test_the_engines_facts_survive_flushes_and_a_restart(store: SqlStore, tmp_path: Path) -> None:
    """An engine drained into the store, checkpointed, restored: the first share's time and
    the agent, from the test's own shares, stay as they were."""
    t0 = float(NOW - NOW % 3600) + 100
    engine = Engine()
    ok = Status.ACCEPT
    first = [(1, "rig1", t0 + 3.7, 1.0, ok), (1, "rig1", t0 + 9, 1.0, ok)]
    engine.apply(batch(engine, first, agents=["cgminer/4.10.0", None]), t0 + 10)
    store.write_flush(engine.drain(t0 + 10))
    rig1 = store.workers(1)[0]["worker_id"]
    assert facts(store, 1, rig1) == (int(t0) + 3, "cgminer/4.10.0")
    checkpoint.save(tmp_path, engine.export())
    for at in (20, 30):  # later shares, no agent named: nothing moves
        engine.apply(batch(engine, [(1, "rig1", t0 + at, 1.0, ok)]), t0 + at)
        store.write_flush(engine.drain(t0 + at))
        assert facts(store, 1, rig1) == (int(t0) + 3, "cgminer/4.10.0")
    saved = checkpoint.load(tmp_path)
    assert saved is not None
    restarted = Engine.restore(saved)
    later = [(1, "rig1", t0 + 40, 1.0, ok)]
    restarted.apply(batch(restarted, later, agents=["bmminer/2.0.0"]), t0 + 40)
    store.write_flush(restarted.drain(t0 + 40))
    assert facts(store, 1, rig1) == (int(t0) + 3, "bmminer/2.0.0")
    # a restart without a checkpoint: the engine's first share is later, the store keeps its
    fresh = Engine()
    fresh.apply(batch(fresh, [(1, "rig1", t0 + 50, 1.0, ok)]), t0 + 50)
    store.write_flush(fresh.drain(t0 + 50))
    assert facts(store, 1, rig1) == (int(t0) + 3, "bmminer/2.0.0")


def test_migration_0014_gives_old_rows_their_creation_time_and_no_agent(store: SqlStore) -> None:
    migrate(store, "0013", down=True)
    with store.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("workers")}
    assert not columns & {"first_share_time", "miner_agent"}
    with raw(store) as conn:  # rows as a 0013 database holds them
        for worker_id, created in ((10, NOW - 7200), (11, 0)):
            conn.execute(
                "INSERT INTO workers (puid, worker_id, worker_name, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (1, worker_id, f"old{worker_id}", created, NOW),
            )
    migrate(store, "head")
    assert facts(store, 1, 10) == (NOW - 7200, "")  # the flush that made the row: after it
    assert facts(store, 1, 11) == (0, "")  # no creation time: unknown
    # the next flush brings the engine's facts; the earlier stored time stays
    given = worker(name="old10", first=NOW - 60, agent="cgminer/4.10.0")
    store.write_flush(make_flush(workers=[given]))
    assert facts(store, 1, 10) == (NOW - 7200, "cgminer/4.10.0")
