"""The engine on hand-computed share streams: windows, ghosts, buckets, replays, restarts."""

from __future__ import annotations

import dataclasses
import random

import msgspec
import numpy as np
import pytest

from poolstats.domain.hashrate import hashrate_hs
from poolstats.domain.share import Status
from poolstats.engine.engine import Engine, EngineConfig
from poolstats.engine.snapshot import Flush, Level, WindowSums
from tests.engine.helpers import DAY, T0, batch, steady


def history(
    flushes: list[Flush], level: Level, period: int
) -> dict[tuple[int, int, int], tuple[float, float, float]]:
    """(puid, worker_id, start) -> (accept, stale, reject), summed over flushes, as a store
    shows them: workers' open buckets (the newest value each flush wrote) included."""
    out: dict[tuple[int, int, int], tuple[float, float, float]] = {}

    def add(key: tuple[int, int, int], a: float, s: float, r: float) -> None:
        a0, s0, r0 = out.get(key, (0.0, 0.0, 0.0))
        out[key] = (a0 + a, s0 + s, r0 + r)

    opened: dict[tuple[int, int], tuple[int, float, float, float]] = {}
    for flush in flushes:
        for d in flush.history:
            if d.level != level or d.period_s != period:
                continue
            for i in range(len(d.start)):
                key = (int(d.puid[i]), int(d.worker_id[i]), int(d.start[i]))
                add(key, d.accept[i], d.stale[i], d.reject[i])
        w = flush.workers
        for o in w.open if level is Level.WORKER else ():
            if o.period_s != period:
                continue
            for i in range(len(w.puid)):
                opened[int(w.puid[i]), int(w.worker_id[i])] = (
                    o.start,
                    o.accept[i],
                    o.stale[i],
                    o.reject[i],
                )
    for (puid, wid), (start, a, s, r) in opened.items():
        if a or s or r:
            add((puid, wid, start), a, s, r)
    return out


def test_windows_count_the_shares_of_their_last_w_seconds() -> None:
    engine = Engine()
    # one share of difficulty 1000 every 10 s, at T0+5, T0+15, ..., T0+1195 (120 shares)
    engine.apply(batch(engine, steady(1, "a", T0 + 5, 120, 10, 1000)), T0 + 1200)
    sums = engine.worker_sums(1, "a")
    # At T0+1200 the 1m window is (T0+1140, T0+1200]: shares 1145, 1155 ... 1195 = 6.
    assert sums.accept_1m[0] == 6 * 1000
    # 5m: (T0+900, T0+1200]: shares 905 ... 1195 = 30; 15m: (T0+300, T0+1200]: 305 ... = 90.
    assert sums.accept_5m[0] == 30 * 1000
    assert sums.accept_15m[0] == 90 * 1000
    # 1h and 1d still hold all 120.
    assert sums.accept_1h[0] == 120 * 1000
    assert sums.accept_1d[0] == 120 * 1000
    # 90 shares in 900 s: one share of 1000 every 10 s, 100 * 2**32 H/s
    assert hashrate_hs(sums.accept_15m[0], 900) == 100 * 2**32
    # the sub-account and the pool see the same shares
    assert engine.subaccount_sums(1).accept_15m[0] == 90 * 1000
    assert engine.pool_sums().accept_1d[0] == 120 * 1000


def test_a_window_counts_a_share_until_it_is_w_seconds_old() -> None:
    engine = Engine()
    engine.apply(batch(engine, [(1, "a", T0 + 1, 7, Status.ACCEPT)]), T0 + 1)
    for now, expected in ((T0 + 59, 7), (T0 + 60, 7), (T0 + 60.5, 7), (T0 + 61, 0)):
        engine.advance(now)
        # the 1m window at ``now`` is (now - 60, now]: the share at T0+1 leaves at T0+61
        assert engine.worker_sums(1, "a").accept_1m[0] == expected, now
        assert engine.pool_sums().accept_1m[0] == expected, now


def test_a_stopped_miner_leaves_no_ghost_hashrate() -> None:
    engine = Engine()
    engine.apply(batch(engine, steady(1, "a", T0, 90, 10, 4096)), T0 + 895)
    assert engine.worker_sums(1, "a").accept_15m[0] == 90 * 4096
    engine.advance(T0 + 890 + 900)  # the last share (T0+890) is 900 s old
    sums = engine.worker_sums(1, "a")
    assert (sums.accept_1m[0], sums.accept_5m[0], sums.accept_15m[0]) == (0, 0, 0)
    assert sums.accept_1h[0] == 90 * 4096  # the longer windows decay later
    engine.advance(T0 + 2 * DAY)
    assert engine.worker_sums(1, "a").accept_1d[0] == 0
    assert engine.pool_sums().accept_1d[0] == 0


def test_rejects_and_stales_are_kept_apart() -> None:
    engine = Engine()
    shares = [
        (1, "a", T0 + 1, 100, Status.ACCEPT),
        (1, "a", T0 + 2, 30, Status.REJECT),
        (1, "a", T0 + 3, 20, Status.STALE),
        (1, "b", T0 + 4, 50, Status.REJECT),
    ]
    engine.apply(batch(engine, shares), T0 + 5)
    a = engine.worker_sums(1, "a")
    assert (a.accept_15m[0], a.reject_15m[0], a.stale_15m[0]) == (100, 30, 20)
    sub = engine.subaccount_sums(1)
    assert (sub.accept_1m[0], sub.reject_1m[0], sub.stale_1m[0]) == (100, 80, 20)
    flush = engine.drain(T0 + 6)
    by_name = dict(zip(flush.workers.worker_name, range(2), strict=True))
    assert flush.workers.accept_count[by_name["a"]] == 1
    assert flush.workers.reject_count[by_name["a"]] == 2
    assert flush.workers.last_accept_time[by_name["b"]] == 0


def test_history_buckets_split_at_utc_boundaries() -> None:
    engine = Engine()
    shares = [
        (1, "a", T0 + 3599.999, 1, Status.ACCEPT),
        (1, "a", T0 + 3600, 2, Status.ACCEPT),
        (1, "a", T0 + DAY - 0.5, 4, Status.REJECT),
        (1, "a", T0 + DAY, 8, Status.STALE),
    ]
    engine.apply(batch(engine, shares), T0 + DAY + 1)
    flush = engine.drain(T0 + DAY + 1)
    wid = int(flush.workers.worker_id[0])
    hourly = history([flush], Level.WORKER, 3600)
    assert hourly == {
        (1, wid, T0): (1, 0, 0),
        (1, wid, T0 + 3600): (2, 0, 0),
        (1, wid, T0 + DAY - 3600): (0, 0, 4),
        (1, wid, T0 + DAY): (0, 8, 0),
    }
    daily = history([flush], Level.SUBACCOUNT, DAY)
    assert daily == {(1, 0, T0): (3, 0, 4), (1, 0, T0 + DAY): (0, 8, 0)}
    five = history([flush], Level.POOL, 300)
    assert five[(0, 0, T0 + 3300)] == (1, 0, 0)  # 3599.999 is in [3300, 3600)
    assert five[(0, 0, T0 + 3600)] == (2, 0, 0)


def test_replayed_old_shares_land_in_their_own_buckets_not_in_windows() -> None:
    engine = Engine()
    now = T0 + 10 * DAY
    old = [(1, "a", T0 + 100, 5, Status.ACCEPT), (1, "a", T0 + DAY + 7200, 6, Status.ACCEPT)]
    engine.apply(batch(engine, old), now)
    assert engine.worker_sums(1, "a").accept_1d[0] == 0
    flush = engine.drain(now)
    assert history([flush], Level.SUBACCOUNT, 3600) == {
        (1, 0, T0): (5, 0, 0),
        (1, 0, T0 + DAY + 7200): (6, 0, 0),
    }
    assert history([flush], Level.SUBACCOUNT, 900) == {
        (1, 0, T0): (5, 0, 0),
        (1, 0, T0 + DAY + 7200): (6, 0, 0),
    }


def test_a_share_slightly_in_the_future_counts_now_and_in_its_own_bucket() -> None:
    engine = Engine()
    now = T0 + 3599
    engine.apply(batch(engine, [(1, "a", now + 120, 9, Status.ACCEPT)]), now)
    assert engine.worker_sums(1, "a").accept_1m[0] == 9
    flush = engine.drain(now)
    assert flush.workers.last_share_time[0] == int(now)  # never a future last_share_time
    assert history([flush], Level.POOL, 3600) == {(0, 0, T0 + 3600): (9, 0, 0)}


def test_increments_are_drained_once() -> None:
    engine = Engine()
    engine.apply(batch(engine, steady(1, "a", T0, 3, 1, 10)), T0 + 3)
    first = engine.drain(T0 + 4)
    engine.apply(batch(engine, steady(1, "a", T0 + 5, 2, 1, 10)), T0 + 7)
    second = engine.drain(T0 + 8)
    assert history([first], Level.POOL, 300) == {(0, 0, T0): (30, 0, 0)}
    assert history([second], Level.POOL, 300) == {(0, 0, T0): (20, 0, 0)}
    assert engine.drain(T0 + 9).history == []


def test_bucket_rollover_between_drains_keeps_the_old_bucket() -> None:
    engine = Engine()
    engine.apply(batch(engine, [(1, "a", T0 + 299, 3, Status.ACCEPT)]), T0 + 299)
    engine.apply(batch(engine, [(1, "a", T0 + 301, 4, Status.ACCEPT)]), T0 + 301)
    flush = engine.drain(T0 + 302)
    assert history([flush], Level.POOL, 300) == {(0, 0, T0): (3, 0, 0), (0, 0, T0 + 300): (4, 0, 0)}


def test_last_share_ip_is_that_of_the_newest_share() -> None:
    engine = Engine()
    shares = [
        (1, "a", T0 + 2, 1, Status.ACCEPT),
        (1, "a", T0 + 1, 1, Status.ACCEPT),
        (1, "b", T0 + 1, 1, Status.ACCEPT),
    ]
    engine.apply(batch(engine, shares, ips=["192.0.2.2", "192.0.2.1", None]), T0 + 3)
    flush = engine.drain(T0 + 3)
    ips = dict(zip(flush.workers.worker_name, flush.workers.last_share_ip, strict=True))
    assert ips == {"a": "192.0.2.2", "b": ""}


def test_workers_active_counts_by_sub_account() -> None:
    engine = Engine(EngineConfig(active_s=900))
    shares = [
        (1, "a", T0, 1, Status.ACCEPT),
        (1, "b", T0 + 500, 1, Status.ACCEPT),
        (2, "a", T0 + 100, 1, Status.REJECT),
    ]
    engine.apply(batch(engine, shares), T0 + 500)
    flush = engine.drain(T0 + 900)
    by_puid = dict(
        zip(flush.subaccounts.puid.tolist(), flush.subaccounts.workers_active.tolist(), strict=True)
    )
    assert by_puid == {1: 2, 2: 0}  # a rejected share does not make a worker active
    flush = engine.drain(T0 + 901)
    assert dict(
        zip(flush.subaccounts.puid.tolist(), flush.subaccounts.workers_active.tolist(), strict=True)
    ) == {1: 1, 2: 0}
    assert (flush.pool.workers_active, flush.pool.users_active) == (1, 1)


def test_export_and_restore_keep_the_windows() -> None:
    engine = Engine()
    engine.apply(
        batch(engine, steady(1, "a", T0 + 5, 120, 10, 1000), ips=["192.0.2.9"] * 120),
        T0 + 1200,
        seq=7,
    )
    engine.apply(batch(engine, steady(2, "x.y", T0 + 1000, 3, 1, 5)), T0 + 1200, seq=8)
    engine.drain(T0 + 1200)
    restored = Engine.restore(engine.export())
    assert restored.seq == 8
    for puid, name in ((1, "a"), (2, "x.y")):
        for field in ("accept_1m", "accept_5m", "accept_15m", "accept_1h", "accept_1d"):
            before = getattr(engine.worker_sums(puid, name), field)
            assert np.array_equal(getattr(restored.worker_sums(puid, name), field), before)
    assert restored.subaccount_sums(1).accept_15m[0] == 90 * 1000  # (T0+300, T0+1200]
    # time keeps moving for the restored engine exactly as for the original
    for e in (engine, restored):
        e.advance(T0 + 1500)
    assert restored.worker_sums(1, "a").accept_15m[0] == engine.worker_sums(1, "a").accept_15m[0]
    flush = restored.drain(T0 + 1500)
    assert "192.0.2.9" in flush.workers.last_share_ip


def test_a_checkpoint_with_other_slots_restores_with_those_windows_empty() -> None:
    """A checkpoint written before the slots changed (10 s, 60 s, 300 s and hourly rings)
    restores: its windows cannot be read into the new slots, so they start empty and fill
    from new shares; everything else is kept."""
    engine = Engine()
    engine.apply(batch(engine, steady(1, "a", T0 + 5, 120, 10, 1000)), T0 + 1200, seq=7)
    engine.drain(T0 + 1200)
    arrays = {k: v for k, v in engine.export().items() if "_ring_" not in k}
    meta = msgspec.msgpack.decode(arrays["meta"].tobytes())
    meta["heads"] = {}
    for prefix in ("w", "s", "p"):
        for res, n, field in ((10, 90, "accept"), (60, 15, "reject"), (300, 12, "accept")):
            meta["heads"][f"{prefix}_{res}"] = int((T0 + 1200) // res)
            arrays[f"{prefix}_ring_{res}_{field}"] = np.full((n, 1), 5.0, np.float32)
    arrays["meta"] = np.frombuffer(msgspec.msgpack.encode(meta), dtype=np.uint8)
    restored = Engine.restore(arrays)
    assert restored.seq == 7
    sums = restored.worker_sums(1, "a")
    assert [float(getattr(sums, f.name)[0]) for f in dataclasses.fields(WindowSums)] == [0] * 11
    restored.apply(batch(restored, [(1, "a", T0 + 1201, 9, Status.ACCEPT)]), T0 + 1201)
    assert restored.worker_sums(1, "a").accept_1m[0] == 9
    assert restored.pool_sums().accept_1d[0] == 9


def test_silent_workers_are_evicted_and_come_back_fresh() -> None:
    engine = Engine()
    engine.apply(
        batch(engine, [(1, "a", T0, 5, Status.ACCEPT), (1, "b", T0, 5, Status.ACCEPT)]), T0
    )
    engine.apply(batch(engine, [(1, "b", T0 + 2 * DAY, 5, Status.ACCEPT)]), T0 + 2 * DAY)
    engine.drain(T0 + 2 * DAY)
    assert engine.evict(T0 + 2 * DAY) == 1
    assert engine.tracked_workers == 1
    assert engine.worker_row(1, "a") is None
    engine.apply(batch(engine, [(1, "c", T0 + 2 * DAY, 1, Status.ACCEPT)]), T0 + 2 * DAY)
    assert engine.tracked_workers == 2  # the freed row is reused
    assert engine.worker_sums(1, "c").accept_1d[0] == 1


def test_names_as_sent_are_normalised_to_one_worker() -> None:
    engine = Engine()
    rows = engine.worker_rows([1, 1, 1, 2], ["S19 #1!", "S191", "", "S191"])
    assert rows[0] == rows[1] != rows[3]
    assert engine.workers.names[rows[2]] == "__default__"


@pytest.mark.parametrize("n_workers", [1, 3000])
def test_capacity_grows_without_losing_state(n_workers: int) -> None:
    engine = Engine(capacity=2)
    shares = [(1 + i % 7, f"w{i}", T0 + i % 60, 1 + i % 5, Status.ACCEPT) for i in range(n_workers)]
    engine.apply(batch(engine, shares), T0 + 60)
    expected = float(sum(1 + i % 5 for i in range(n_workers)))
    assert engine.pool_sums().accept_1h[0] == expected
    total = sum(engine.worker_sums(1 + i % 7, f"w{i}").accept_1h[0] for i in range(n_workers))
    assert total == expected


def test_late_shares_of_different_sub_accounts_stay_apart() -> None:
    # found by the ingest property test: late shares take the chunk path, whose keys
    # once overflowed 32-bit sub-account rows and merged every sub-account into one
    engine = Engine()
    now = T0 + 2 * DAY
    late = [
        (1, "a", T0, 1, Status.ACCEPT),
        (2, "a", T0, 2, Status.ACCEPT),
        (3, "b", T0 + 1, 4, Status.REJECT),
    ]
    engine.apply(batch(engine, late), now)
    flush = engine.drain(now)
    assert history([flush], Level.SUBACCOUNT, DAY) == {
        (1, 0, T0): (1, 0, 0),
        (2, 0, T0): (2, 0, 0),
        (3, 0, T0): (0, 0, 4),
    }


def test_addresses_no_worker_holds_any_more_are_forgotten() -> None:
    engine = Engine()
    # one worker moving through 3000 addresses: only its newest one is worth keeping
    for i in range(3000):
        ip = f"198.51.{i // 250}.{i % 250}"
        engine.apply(batch(engine, [(1, "a", T0 + i, 1, Status.ACCEPT)], ips=[ip]), T0 + i)
    engine.apply(
        batch(engine, [(2, "b", T0 + 2999, 1, Status.ACCEPT)], ips=["192.0.2.7"]), T0 + 2999
    )
    assert len(engine.ips) == 3001
    engine.drain(T0 + 3000)
    assert engine.evict(T0 + 3000) == 0  # nobody is silent long enough to go
    assert sorted(engine.ips) == ["192.0.2.7", "198.51.11.249"]
    flush = engine.drain(T0 + 3001)
    assert dict(zip(flush.workers.worker_name, flush.workers.last_share_ip, strict=True)) == {
        "a": "198.51.11.249",
        "b": "192.0.2.7",
    }
    # a known address keeps working after the compaction, and a new one is added
    engine.apply(
        batch(engine, [(1, "a", T0 + 3002, 1, Status.ACCEPT)], ips=["192.0.2.7"]), T0 + 3002
    )
    assert sorted(engine.ips) == ["192.0.2.7", "198.51.11.249"]


def test_a_worker_bucket_is_drained_once_when_it_closes_with_its_exact_sums() -> None:
    engine = Engine()
    shares = [
        (1, "a", T0 + 10, 5, Status.ACCEPT),
        (1, "a", T0 + 20, 2, Status.REJECT),
        (1, "a", T0 + 30, 1, Status.STALE),
    ]
    engine.apply(batch(engine, shares), T0 + 30)
    first = engine.drain(T0 + 40)
    engine.apply(batch(engine, [(1, "a", T0 + 50, 4, Status.ACCEPT)]), T0 + 50)
    second = engine.drain(T0 + 60)
    for flush, accepted in ((first, 5), (second, 9)):
        assert [d for d in flush.history if d.level is Level.WORKER] == []
        hour, day = flush.workers.open
        # absolute sums so far of the open buckets, with the worker row
        assert (hour.period_s, hour.start, day.period_s, day.start) == (3600, T0, DAY, T0)
        for o in (hour, day):
            assert (o.accept[0], o.stale[0], o.reject[0]) == (accepted, 1, 2)
    wid = int(first.workers.worker_id[0])

    closing = engine.drain(T0 + 3601)  # the worker sent nothing since: its row comes anyway
    assert history([closing], Level.WORKER, 3600) == {(1, wid, T0): (9, 1, 2)}
    assert [d.period_s for d in closing.history if d.level is Level.WORKER] == [3600]
    hour, day = closing.workers.open
    assert list(closing.workers.worker_id) == [wid]
    assert (hour.start, hour.accept[0], hour.stale[0], hour.reject[0]) == (T0 + 3600, 0, 0, 0)
    assert (day.start, day.accept[0]) == (T0, 9)  # the day is still open
    later = engine.drain(T0 + 3620)
    assert [d for d in later.history if d.level is Level.WORKER] == []


def test_plain_marks_workers_whose_stored_figures_but_the_accepted_ones_hold() -> None:
    """``WorkerRows.plain``: True once a drain left a worker's reject and stale figures, its
    IP and its open buckets' stale and reject sums in the store, and nothing has changed
    them since: a reject or stale share, a new IP, a closing bucket that held one, or a
    window that still holds one (it slides) each make it False."""
    engine = Engine()

    def plain_after(at: int, *shares: tuple[str, Status], ip: str | None = None) -> bool:
        if shares:
            engine.apply(
                batch(engine, [(1, n, at - 1, 1000, s) for n, s in shares], [ip] * len(shares)),
                at,
            )
        flush = engine.drain(at)
        marks = dict(zip(flush.workers.worker_name, flush.workers.plain.tolist(), strict=True))
        return marks["a"]

    a = ("a", Status.ACCEPT)
    t = T0 + 30
    assert plain_after(t, a, ip="192.0.2.1") is False  # not stored yet
    assert plain_after(t + 10, a, ip="192.0.2.1") is True
    assert plain_after(t + 20, ("a", Status.REJECT), ip="192.0.2.1") is False
    # the reject is in the 15-minute window until it slides out (60 s slots)
    assert plain_after(t + 30, a, ip="192.0.2.1") is False
    assert plain_after(t + 20 + 840, a, ip="192.0.2.1") is False
    assert plain_after(t + 20 + 960, a, ip="192.0.2.1") is False  # first drain with it gone
    assert plain_after(t + 20 + 970, a, ip="192.0.2.1") is True
    assert plain_after(t + 20 + 980, a, ip="192.0.2.2") is False  # a new address
    assert plain_after(t + 20 + 990, a, ip="192.0.2.2") is True
    assert plain_after(t + 20 + 1000, a) is True  # no address sent: the stored one stays
    # a stale share in the hour's open bucket: the next hour's stale sum starts from 0
    hour = T0 + 3600
    assert plain_after(hour - 960, ("a", Status.STALE)) is False
    assert plain_after(hour - 20, a) is False  # first drain with it out of every window
    assert plain_after(hour - 10, a) is True  # still in the open bucket, and stored there
    assert plain_after(hour + 10, a) is False
    assert plain_after(hour + 20, a) is True
    # a restored engine does not know what the store holds until its first drain
    restored = Engine.restore(engine.export())
    restored.apply(batch(restored, [(1, "a", hour + 29, 1000, Status.ACCEPT)]), hour + 30)
    flush = restored.drain(hour + 30)
    assert flush.workers.plain is not None and not flush.workers.plain.any()
    assert flush.workers.stored is not None and flush.workers.stored.all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_drain_leaves_the_stored_figures_equal_to_the_engines(seed: int) -> None:
    """The store holds only what drains hand it, so after each drain the figures of every
    worker ever drained must equal the engine's at that moment: a worker left out because
    it sent nothing new, while one of its windows still moved (a share leaving it), would
    show a figure older than the flush interval. Workers mine, reject, go quiet for a while
    at random, over two hours of 10 s flushes."""
    rng = random.Random(seed)
    engine = Engine()
    names = [(1 + i % 3, f"rig{i}") for i in range(12)]
    stored: dict[tuple[int, int], dict[str, float]] = {}
    fields = [f.name for f in dataclasses.fields(WindowSums)]
    quiet_until = dict.fromkeys(names, 0.0)
    at = float(T0)
    for _ in range(720):
        at += 10
        shares = []
        for name in names:
            if at < quiet_until[name]:
                continue
            if rng.random() < 0.01:  # silent for up to 40 minutes
                quiet_until[name] = at + rng.uniform(60, 2400)
            for _ in range(rng.randint(0, 2)):
                status = rng.choices(list(Status), weights=[90, 5, 5])[0]
                shares.append((*name, at - rng.uniform(0, 10), 1000.0, status))
        if shares:
            engine.apply(batch(engine, shares), at)
        flush = engine.drain(at)
        w = flush.workers
        keys = zip(w.puid.tolist(), w.worker_id.tolist(), strict=True)
        for i, (puid, worker_id) in enumerate(keys):
            stored[puid, worker_id] = {f: float(getattr(w.sums, f)[i]) for f in fields}
        n = len(engine.workers)
        rows = np.arange(n, dtype=np.int64)
        live = engine.w_live.sums(rows)
        puids = engine.subs.puid_array()[engine.w_sub[rows]]
        keys = zip(puids.tolist(), engine.w_id[rows].tolist(), strict=True)
        for r, (puid, worker_id) in enumerate(keys):
            if (puid, worker_id) not in stored:
                continue
            now = {f: float(getattr(live, f)[r]) for f in fields}
            assert stored[puid, worker_id] == now, f"worker {worker_id} at {at - T0:.0f} s"
