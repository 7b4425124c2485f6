"""A miner sending shares at a constant rate reads its true rate in every trailing window, at
every second, whatever the phase of its shares against the engine's slots.

The window of W seconds at ``now`` counts the shares of (now - W, now]; for a miner that has
sent one share of difficulty d every p seconds for longer than a day, that is exactly W / p
shares whenever p divides W, so every window reads d / p difficulty a second.
"""

from __future__ import annotations

import bisect

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from poolstats.domain.share import Status, quantize_diff
from poolstats.engine.engine import Engine, ShareBatch
from poolstats.engine.snapshot import WindowSums
from tests.engine.helpers import DAY, T0

WINDOWS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
RUN_S = 2 * 3600
TOLERANCE = 0.005


def shares_batch(engine: Engine, ts: list[float], diff: float, status: Status) -> ShareBatch:
    (row,) = engine.worker_rows([1], ["rig1"]).tolist()
    return ShareBatch(
        rows=np.full(len(ts), row, np.int64),
        ts=np.array(ts, np.float64),
        diff=np.full(len(ts), diff),
        status=np.full(len(ts), int(status), np.uint8),
        ip=np.full(len(ts), -1, np.int64),
    )


def check(sums: WindowSums, every: int, rate: float, times: list[float], now: int) -> None:
    for name, seconds in WINDOWS.items():
        got = float(getattr(sums, f"accept_{name}")[0])
        # the shares the window holds, counted from the share times themselves
        inside = bisect.bisect_right(times, now) - bisect.bisect_right(times, now - seconds)
        assert inside == seconds // every  # the stream is steady: W / p shares
        assert abs(got / seconds - rate) <= TOLERANCE * rate, (name, now, got, inside)


def run(every: int, phase: float, offset: int, diff: float, status: Status) -> None:
    """One share every ``every`` seconds, at ``start + phase + k * every``, from a day and a
    half before the two hours observed; ``offset`` moves the start against the slots."""
    d = float(quantize_diff(np.array([diff]))[0])
    start = T0 + offset
    begin = start - DAY - 3 * 3600
    times = [begin + phase + k * every for k in range((DAY + 5 * 3600) // every + 1)]
    times = [t for t in times if t <= start + RUN_S]
    engine = Engine()
    warm = bisect.bisect_right(times, start)
    for lo in range(0, warm, 4096):  # the warm-up in large batches
        chunk = times[lo : min(lo + 4096, warm)]
        engine.apply(shares_batch(engine, chunk, d, status), chunk[-1], history=False)
    rate = d / every
    prefix = {Status.ACCEPT: "accept", Status.REJECT: "reject", Status.STALE: "stale"}[status]
    at = warm
    for now in range(int(start), int(start) + RUN_S + 1):
        upto = bisect.bisect_right(times, now)
        if upto > at:
            engine.apply(shares_batch(engine, times[at:upto], d, status), now, history=False)
        else:
            engine.advance(now)  # no share this second: the windows slide all the same
        at = upto
        for sums in (engine.worker_sums(1, "rig1"), engine.subaccount_sums(1), engine.pool_sums()):
            if status == Status.ACCEPT:
                check(sums, every, rate, times, now)
            else:  # rejects and stale shares are kept for the 1m, 5m and 15m windows
                for name in ("1m", "5m", "15m"):
                    got = float(getattr(sums, f"{prefix}_{name}")[0])
                    assert abs(got / WINDOWS[name] - rate) <= TOLERANCE * rate, (name, now, got)


@settings(max_examples=4, deadline=None)
@given(
    every=st.sampled_from([1, 10]),
    phase=st.floats(0, 1, exclude_max=True, allow_nan=False),
    offset=st.integers(0, 2 * 3600 - 1),
    diff=st.sampled_from([1.0, 65536.0, 3.0e9, 0.0001]),
)
@example(every=1, phase=0.0, offset=0, diff=65536.0)
@example(every=10, phase=0.0, offset=0, diff=65536.0)
@example(every=10, phase=0.9999, offset=59, diff=65536.0)
@example(every=1, phase=0.5, offset=7199, diff=1.0)
def test_a_steady_miner_reads_its_rate_in_every_window_at_every_second(
    every: int, phase: float, offset: int, diff: float
) -> None:
    run(every, phase * every, offset, diff, Status.ACCEPT)


@settings(max_examples=2, deadline=None)
@given(
    every=st.sampled_from([1, 10]),
    phase=st.floats(0, 1, exclude_max=True, allow_nan=False),
    status=st.sampled_from([Status.REJECT, Status.STALE]),
)
def test_steady_rejects_and_stale_shares_read_their_rate_too(
    every: int, phase: float, status: Status
) -> None:
    run(every, phase * every, 0, 4096.0, status)


def test_many_rows_read_as_each_row_alone() -> None:
    """The windows of a million workers (read as arrays at a flush) and of one worker (read
    in plain floats for the API) are the same figures: 24 miners of every rate from one share
    a second to one a minute, some rejecting, read at many instants, either way."""
    engine = Engine()
    miners = [(1 + i % 3, f"rig{i}", 1 + (i * 7) % 60, (i * 0.37) % 1.0) for i in range(24)]
    at = T0
    for step in range(1, 500):
        now = T0 + step * 13.7
        shares = []
        for puid, name, every, phase in miners:
            first = int((at - phase) // every) + 1
            for k in range(first, int((now - phase) // every) + 1):
                status = Status.REJECT if (k + puid) % 9 == 0 else Status.ACCEPT
                shares.append((puid, name, k * every + phase, status))
        if shares:
            rows = engine.worker_rows([s[0] for s in shares], [s[1] for s in shares])
            engine.apply(
                ShareBatch(
                    rows=rows,
                    ts=np.array([s[2] for s in shares]),
                    diff=np.full(len(shares), 512.0),
                    status=np.array([int(s[3]) for s in shares], np.uint8),
                    ip=np.full(len(shares), -1, np.int64),
                ),
                now,
            )
        at = now
        if step % 25:
            continue
        together = engine.w_live.sums(np.arange(len(miners), dtype=np.int64))
        for puid, name, _, _ in miners:
            alone = engine.worker_sums(puid, name)
            row = engine.worker_row(puid, name)
            for field in WindowSums.__dataclass_fields__:
                a, b = float(getattr(alone, field)[0]), float(getattr(together, field)[row])
                assert abs(a - b) <= 1e-9 * max(1.0, abs(a)), (name, field, step)
