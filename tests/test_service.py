"""The service end to end in one process: ingest -> flush -> store, restarts and crashes."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from poolstats.clock import FakeClock
from poolstats.config import Settings
from poolstats.domain.workers import worker_id
from poolstats.engine.snapshot import Level
from poolstats.ingest.pipeline import Format
from poolstats.service import Service
from poolstats.store import SqliteStore, ledger, schema

T0 = 19675 * 86400.0


def ndjson(events: list[dict[str, object]]) -> bytes:
    return b"".join(msgspec.json.encode(e) + b"\n" for e in events)


def shares(
    user: str, worker: str, start: float, count: int, diff: float, every: float = 10.0
) -> list[dict[str, object]]:
    return [
        {
            "ts": start + i * every,
            "user": user,
            "worker": worker,
            "diff": diff,
            "accepted": True,
            "ip": "198.51.100.4",
        }
        for i in range(count)
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def open_service(path: Path, clock: FakeClock) -> Service:
    service = Service(Settings(data_dir=path, ingest_token="t"), clock=clock)
    service.recover()
    return service


def crash(service: Service) -> None:
    """Drop the service as kill -9 would: no flush, no checkpoint; just let go of the files."""
    service.journal.close()
    service.store.close()


def test_a_share_is_in_the_store_after_one_flush(tmp_path: Path, clock: FakeClock) -> None:
    service = open_service(tmp_path, clock)
    service.store.create_user("alice", int(T0))
    clock.advance(30)
    result = service.ingestor.ingest(
        ndjson(shares("alice", "rig1", T0 + 1, 3, 1024)), Format.NDJSON
    )
    assert (result.accepted, result.refused) == (3, 0)
    assert service.store.workers(1) == []  # not before the flush
    service.flush()
    (worker,) = service.store.workers(1)
    assert (worker["worker_name"], worker["accept_1m"], worker["accept_count"]) == ("rig1", 3072, 3)
    assert worker["last_share_ip"] == "198.51.100.4"
    assert worker["last_share_time"] == int(T0 + 21)
    assert service.store.subaccount_stats(1)["accept_15m"] == 3072
    assert service.store.pool_stats()["workers_active"] == 1
    assert service.store.history(Level.SUBACCOUNT, 300, puid=1)[0]["accept"] == 3072
    service.close()


def test_a_flush_on_its_way_to_the_store_is_not_reported_as_failed(
    tmp_path: Path, clock: FakeClock
) -> None:
    """/healthz asked while a flush is being written says ok: only a write that failed
    makes a flush one that "failed and waits to be retried"."""
    service = open_service(tmp_path, clock)
    writing, release = threading.Event(), threading.Event()
    write = service.store.write_flush

    def held_write(*args: object, **kwargs: object) -> None:
        writing.set()
        assert release.wait(30)
        write(*args, **kwargs)  # type: ignore[arg-type]

    service.store.write_flush = held_write  # type: ignore[method-assign]
    flusher = threading.Thread(target=service.flush)
    flusher.start()
    try:
        assert writing.wait(30)
        during = service.health()
    finally:
        release.set()
        flusher.join(30)
    assert (during.status, during.reasons) == ("ok", ())
    assert service.last_flush_at == T0
    service.close()


def test_restart_keeps_hashrate_and_buckets(tmp_path: Path, clock: FakeClock) -> None:
    service = open_service(tmp_path, clock)
    service.store.create_user("alice", int(T0))
    clock.set(T0 + 600)
    service.ingestor.ingest(ndjson(shares("alice", "rig1", T0, 60, 2048)), Format.NDJSON)
    service.close()  # a clean stop: flush + checkpoint

    clock.advance(30)
    again = open_service(tmp_path, clock)
    assert again.recovery is not None and again.recovery.replayed_batches == 0
    sums = again.engine.worker_sums(1, "rig1")
    # shares T0..T0+590 every 10 s; at T0+630 the 15m window starts at T0-260: all 60 of them
    assert sums.accept_15m[0] == 60 * 2048
    assert sums.accept_5m[0] == 26 * 2048  # 5m starts at T0+340: shares 340..590
    again.flush()
    assert again.store.workers(1)[0]["accept_15m"] == 60 * 2048
    assert again.store.history(Level.WORKER, 3600, puid=1)[0]["accept"] == 60 * 2048
    again.close()


def test_a_crash_replays_each_acknowledged_batch_once(tmp_path: Path, clock: FakeClock) -> None:
    service = open_service(tmp_path, clock)
    service.store.create_user("alice", int(T0))
    clock.set(T0 + 100)
    service.ingestor.ingest(ndjson(shares("alice", "a", T0, 10, 100)), Format.NDJSON)
    service.checkpoint()  # state and store hold batch 1
    service.ingestor.ingest(ndjson(shares("alice", "a", T0 + 1, 10, 10)), Format.NDJSON)
    service.flush()  # the store holds batch 2's history, the checkpoint does not
    service.ingestor.ingest(ndjson(shares("alice", "b", T0 + 2, 10, 1)), Format.NDJSON)
    crash(service)  # batch 3 is only in the journal

    again = open_service(tmp_path, clock)
    assert again.recovery is not None
    assert (again.recovery.checkpoint_seq, again.recovery.history_seq) == (1, 2)
    assert again.recovery.replayed_batches == 2
    again.flush()
    history = again.store.history(Level.SUBACCOUNT, 86400, puid=1)
    assert history[0]["accept"] == 10 * 100 + 10 * 10 + 10 * 1
    workers = {w["worker_name"]: w for w in again.store.workers(1)}
    assert workers["a"]["accept_count"] == 20
    assert workers["a"]["accept_15m"] == 1100
    assert workers["b"]["accept_15m"] == 10
    again.close()

    third = open_service(tmp_path, clock)  # and once more: nothing is counted twice
    third.flush()
    assert third.store.history(Level.SUBACCOUNT, 86400, puid=1)[0]["accept"] == 1110
    assert {w["worker_name"]: w["accept_count"] for w in third.store.workers(1)} == {
        "a": 20,
        "b": 10,
    }
    third.close()


def test_refused_shares_are_not_replayed(tmp_path: Path, clock: FakeClock) -> None:
    service = open_service(tmp_path, clock)
    service.store.create_user("alice", int(T0))
    body = ndjson(shares("alice", "a", T0, 2, 5) + shares("bob", "a", T0, 1, 7))
    assert service.ingestor.ingest(body, Format.NDJSON).refused == 1
    crash(service)
    again = open_service(tmp_path, clock)
    again.store.create_user("bob", int(T0))  # bob exists now; his share was still refused
    again.flush()
    assert again.store.history(Level.POOL, 3600)[0]["accept"] == 10
    again.close()


def test_the_data_dir_serves_one_process_at_a_time(tmp_path: Path, clock: FakeClock) -> None:
    from poolstats.store.data_folder import DataFolderRefused

    service = open_service(tmp_path, clock)
    with pytest.raises(DataFolderRefused):  # the journal's lock, taken before anything else
        Service(Settings(data_dir=tmp_path), clock=clock)
    service.close()


def test_group_stats_add_up_to_the_sub_account(tmp_path: Path, clock: FakeClock) -> None:
    service = open_service(tmp_path, clock)
    service.store.create_user("alice", int(T0))
    clock.set(T0 + 300)
    body = ndjson(shares("alice", "a", T0, 20, 8) + shares("alice", "b", T0 + 5, 10, 2))
    service.ingestor.ingest(body, Format.NDJSON)
    service.flush()
    (default,) = service.store.group_stats(1, int(T0 + 300))  # new workers are in DEFAULT (-1)
    assert (default["group_id"], default["workers_total"], default["workers_active"]) == (-1, 2, 2)
    sub = service.store.subaccount_stats(1)
    assert sub is not None
    for window in ("accept_1m", "accept_15m", "accept_1d"):
        assert default[window] == sub[window]
    assert default["accept_15m"] == 20 * 8 + 10 * 2
    service.close()


def test_prune_applies_the_retention_settings(tmp_path: Path, clock: FakeClock) -> None:
    service = Service(
        Settings(data_dir=tmp_path, ingest_token="t", retention_5m_s=86400, retention_1h_s=0),
        clock=clock,
    )
    service.recover()
    service.store.create_user("alice", int(T0))
    clock.set(T0 + 10)
    service.ingestor.ingest(ndjson(shares("alice", "a", T0, 1, 8)), Format.NDJSON)
    service.flush()
    clock.set(T0 + 2 * 86400)
    assert service.prune() > 0
    assert service.store.history(Level.SUBACCOUNT, 300, puid=1) == []  # older than a day
    assert service.store.history(Level.SUBACCOUNT, 900, puid=1) != []  # 30 days by default
    assert service.store.history(Level.SUBACCOUNT, 3600, puid=1) != []  # 0: kept forever
    service.close()


def test_a_lost_checkpoint_does_not_stop_the_start(tmp_path: Path, clock: FakeClock) -> None:
    def start() -> Service:  # tiny journal files, so that a checkpoint deletes some
        service = Service(
            Settings(data_dir=tmp_path, ingest_token="t", journal_segment_bytes=64), clock=clock
        )
        service.recover()
        return service

    service = start()
    service.store.create_user("alice", int(T0))
    clock.set(T0 + 100)
    service.ingestor.ingest(ndjson(shares("alice", "a", T0, 5, 100)), Format.NDJSON)
    service.ingestor.ingest(ndjson(shares("alice", "a", T0 + 1, 5, 10)), Format.NDJSON)
    service.checkpoint()  # the journal file of the first batch is deleted
    service.ingestor.ingest(ndjson(shares("alice", "a", T0 + 2, 5, 1)), Format.NDJSON)
    crash(service)
    (tmp_path / "engine.checkpoint.npz").unlink()

    again = start()  # starts, replaying what the journal still has (batches 2 and 3)
    again.flush()
    assert again.store.history(Level.SUBACCOUNT, 86400, puid=1)[0]["accept"] == 555
    assert again.engine.worker_sums(1, "a").accept_15m[0] == 55  # batch 1's windows are gone
    again.close()


def booked_work(service: Service) -> dict[tuple[int, int], int]:
    """(day, net_at) -> exact difficulty booked, for puid 1, from the store."""
    with service.store.read() as conn:
        rows = conn.execute(sa.select(schema.work).where(schema.work.c.puid == 1)).all()
    return {(r.day, r.net_at): ((r.diff_hi << 40) + r.diff_lo) // 2**20 for r in rows}


def test_a_crash_books_each_batch_s_work_once(tmp_path: Path, clock: FakeClock) -> None:
    service = open_service(tmp_path, clock)
    service.store.create_user("alice", int(T0))
    service.store.record_network(int(T0), "10000000", 840_000, 0, "cli", int(T0))
    assert service.refresh_network() and not service.refresh_network()  # only when changed
    clock.set(T0 + 100)
    service.ingestor.ingest(ndjson(shares("alice", "a", T0, 10, 100)), Format.NDJSON)
    service.checkpoint()
    service.ingestor.ingest(ndjson(shares("alice", "a", T0 + 1, 10, 10)), Format.NDJSON)
    service.flush()
    service.ingestor.ingest(ndjson(shares("alice", "b", T0 + 2, 10, 1)), Format.NDJSON)
    crash(service)
    again = open_service(tmp_path, clock)
    again.flush()
    assert booked_work(again) == {(int(T0), int(T0)): 10 * 100 + 10 * 10 + 10 * 1}
    again.close()


def test_the_server_settles_yesterday_after_midnight(tmp_path: Path, clock: FakeClock) -> None:
    service = open_service(tmp_path, clock)  # settle_after_s: 300 by default
    service.store.create_user("alice", int(T0))
    with SqliteStore.open(tmp_path) as other:  # as `poolstats network set` would
        other.record_network(int(T0), "1000", 840_000, 0, "cli", int(T0))
    assert service.refresh_network()
    clock.set(T0 + 86000)
    service.ingestor.ingest(ndjson(shares("alice", "a", T0 + 100, 4, 250)), Format.NDJSON)
    clock.set(T0 + 86400 + 299)
    service.flush()
    assert service.settle_due() is None  # too early
    clock.set(T0 + 86400 + 300)
    done = service.settle_due()
    assert done is not None and (done.days, done.total_sat) == ([int(T0)], 306_250_000)
    # a share of the settled day arrives late: booked into today, at its own network state
    service.ingestor.ingest(ndjson(shares("alice", "a", T0 + 200, 1, 500)), Format.NDJSON)
    service.flush()
    assert booked_work(service) == {(int(T0) + 86400, int(T0)): 500}
    assert ledger.balance(service.store, 1, int(clock.now()), Fraction(2, 100)).today == (
        153_125_000  # 500/1000 x 312,500,000 x 0.98
    )
    service.close()


def test_a_mistyped_pool_fee_rate_stops_the_start(tmp_path: Path, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="pool_fee_rate"):
        Service(Settings(data_dir=tmp_path, pool_fee_rate="2%"), clock=clock)


def test_an_older_copy_of_the_database_put_back_is_refused(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The checkpoint holds seq 2 but the database put back only history up to seq 1: the
    journal of seq 2 is gone, so its history would be lost. Refused, nothing changed."""
    from poolstats.store.data_folder import DataFolderRefused
    from poolstats.store.sqlite import DB_FILE

    service = open_service(tmp_path, clock)
    service.store.create_user("alice", int(T0))
    clock.advance(30)
    service.ingestor.ingest(ndjson(shares("alice", "rig1", T0 + 1, 3, 1024)), Format.NDJSON)
    service.close()  # flush and checkpoint: seq 1
    old = {
        s: (tmp_path / (DB_FILE + s)).read_bytes()
        for s in ("", "-wal")
        if (tmp_path / (DB_FILE + s)).exists()
    }

    service = open_service(tmp_path, clock)
    service.ingestor.ingest(ndjson(shares("alice", "rig2", T0 + 2, 3, 1024)), Format.NDJSON)
    service.close()  # seq 2
    assert service.store.history_seq() == 2
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / (DB_FILE + suffix)).unlink(missing_ok=True)
    for suffix, raw in old.items():
        (tmp_path / (DB_FILE + suffix)).write_bytes(raw)

    def files() -> dict[str, bytes]:
        return {
            str(p.relative_to(tmp_path)): p.read_bytes()
            for p in sorted(tmp_path.rglob("*"))
            if p.is_file() and not p.name.endswith(("-shm", "-wal"))
        }

    before = files()
    service = Service(Settings(data_dir=tmp_path, ingest_token="t"), clock=clock)
    with pytest.raises(DataFolderRefused, match=r"seq 2 .* seq 1"):
        service.recover()
    crash(service)
    assert files() == before


def stored_hour_rows(service: Service) -> list[tuple[int, float]]:
    """(start, accept) of the hourly history rows of puid 1, read from the table itself."""
    h = schema.history_worker
    with service.store.read() as conn:
        rows = conn.execute(
            sa.select(h.c.start, h.c.accept).where(h.c.puid == 1, h.c.period_s == 3600)
        ).all()
    return sorted((int(r.start), float(r.accept)) for r in rows)


def test_a_crash_keeps_each_worker_bucket_exactly_once(tmp_path: Path, clock: FakeClock) -> None:
    """The open buckets live in the engine and the worker rows: a crash between flushes
    (checkpoint C < history_seq N < newest batch) neither loses nor repeats a share."""
    service = open_service(tmp_path, clock)
    service.store.create_user("alice", int(T0))
    clock.set(T0 + 100)
    service.ingestor.ingest(ndjson(shares("alice", "a", T0, 10, 100)), Format.NDJSON)
    service.checkpoint()  # C: 1000 in the open hour
    service.ingestor.ingest(ndjson(shares("alice", "a", T0 + 1, 10, 10)), Format.NDJSON)
    service.flush()  # N: the store's open hour holds 1100
    service.ingestor.ingest(ndjson(shares("alice", "a", T0 + 2, 10, 1)), Format.NDJSON)
    crash(service)  # the last 10 are in the journal only

    again = open_service(tmp_path, clock)
    again.flush()
    wid = worker_id("a")
    assert stored_hour_rows(again) == []  # open: no history row of its own yet
    hour = again.store.history(Level.WORKER, 3600, 1, wid)
    assert [(r["start"], r["accept"]) for r in hour] == [(T0, 1110)]
    assert again.store.history(Level.WORKER, 86400, 1, wid)[0]["accept"] == 1110

    clock.set(T0 + 3605)  # the hour closes; one share in the next one
    again.ingestor.ingest(ndjson(shares("alice", "a", T0 + 3601, 1, 7)), Format.NDJSON)
    again.flush()
    again.flush()
    assert stored_hour_rows(again) == [(T0, 1110)]  # written once, the exact sum
    crash(again)

    third = open_service(tmp_path, clock)  # replays the closing of the hour again
    third.flush()
    assert stored_hour_rows(third) == [(T0, 1110)]
    hour = third.store.history(Level.WORKER, 3600, 1, wid)
    assert [(r["start"], r["accept"]) for r in hour] == [(T0, 1110), (T0 + 3600, 7)]
    assert third.store.history(Level.WORKER, 86400, 1, wid)[0]["accept"] == 1117

    clock.set(T0 + 7205)  # the next hour closes in a batch no flush saw before the crash
    third.ingestor.ingest(ndjson(shares("alice", "a", T0 + 7201, 1, 3)), Format.NDJSON)
    crash(third)
    fourth = open_service(tmp_path, clock)
    fourth.flush()
    assert stored_hour_rows(fourth) == [(T0, 1110), (T0 + 3600, 7)]
    hour = fourth.store.history(Level.WORKER, 3600, 1, wid)
    assert [r["accept"] for r in hour] == [1110, 7, 3]
    fourth.close()
