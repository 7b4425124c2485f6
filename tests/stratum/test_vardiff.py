"""Vardiff's rule on hand-computed windows, its convergence for any steady miner, and a
miner that switches work as cpuminer does reaching its difficulty over TCP."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import time
from fractions import Fraction
from multiprocessing.connection import Connection

from hypothesis import given, settings
from hypothesis import strategies as st

from poolstats.stratum.server import StratumConfig
from poolstats.stratum.session import Limits
from poolstats.stratum.vardiff import SHARES_PER_WINDOW, Vardiff
from tests.api.conftest import Node
from tests.nodes import free_port, until
from tests.stratum.cpuminer import HeaderSwitchingMiner, Submitted
from tests.stratum.test_server import server_for


def test_sixteen_fast_shares_close_a_window_and_give_the_nearest_power_of_two() -> None:
    v = Vardiff(interval_s=10, window_start=0)
    results = [v.on_share(Fraction(1), float(t), Fraction(1)) for t in range(1, 17)]
    # 16 shares of 1 in 16 s: one per 10 s needs 16 * 10 / 16 = 10; nearest power of two: 8
    assert results == [None] * 15 + [Fraction(8)]
    assert (v.window_start, v.shares, v.work) == (16.0, 0, 0)


def test_a_rate_within_a_factor_two_is_left_alone() -> None:
    v = Vardiff(interval_s=10, window_start=0)
    # 3 shares of 8 in 60 s: ideal 24 * 10 / 60 = 4 = 8 / 2, on the edge: no retarget
    assert [v.on_share(Fraction(8), t, Fraction(8)) for t in (20, 40, 60)] == [None] * 3
    # 2 shares of 8 in the next 60 s: ideal 16 * 10 / 60 = 2.67 < 4: 2**round(1.415) = 2
    assert v.on_share(Fraction(8), 90, Fraction(8)) is None
    assert v.on_share(Fraction(8), 120, Fraction(8)) == Fraction(2)


def test_no_share_for_six_intervals_quarters_the_difficulty() -> None:
    v = Vardiff(interval_s=10, window_start=100)
    assert v.due(159.9, Fraction(64)) is None
    assert v.due(160, Fraction(64)) == Fraction(16)
    assert v.window_start == 160


@settings(max_examples=200, deadline=None)
@given(
    hashrate=st.floats(min_value=1e3, max_value=1e18),
    start=st.integers(min_value=-30, max_value=50),
)
def test_a_steady_miner_settles_within_a_factor_two_of_one_share_per_interval(
    hashrate: float, start: int
) -> None:
    """A miner of constant hashrate whose shares come exactly at their expected spacing,
    with job refreshes (ticks) every 30 s, ends at a difficulty within a factor of two of
    hashrate * interval / 2**32, and stays there."""
    interval, refresh = 10.0, 30.0
    ideal = hashrate * interval / 2**32
    diff = Fraction(2) ** start
    v = Vardiff(interval, 0.0)
    now, next_share, next_tick = 0.0, 0.0, refresh
    history = []
    for _ in range(3000):
        next_share = now + float(diff) * 2**32 / hashrate if next_share <= now else next_share
        if next_share <= next_tick:
            now = next_share
            new = v.on_share(diff, now, diff)
        else:
            now, next_tick = next_tick, next_tick + refresh
            new = v.due(now, diff)
        if new is not None:
            diff, next_share = new, now  # the new job restarts the wait at the new difficulty
        history.append(diff)
    final = history[-1]
    # Within a factor of two, up to float rounding: an ideal a hair above a power of two
    # times two (the measured share spacing carries the times' rounding) may settle one
    # power lower, exactly half of it.
    slack = 1 + 1e-9
    assert ideal / 2 / slack <= final <= 2 * ideal * slack
    assert all(d == final for d in history[-200:])


def _after_deadline(submitted: list[Submitted], interval: float) -> list[Submitted]:
    first = submitted[0].at if submitted else math.inf
    return [s for s in submitted if s.at > first + 2 * interval]


def _mine(port: int, interval: float, pipe: Connection) -> None:
    """The miner's process: hash as cpuminer until three shares are past the deadline, send
    what it was told and what it submitted, and hang up once the parent has looked."""

    async def run() -> None:
        miner = await HeaderSwitchingMiner.connect(port, "alice.cpu")
        try:
            # three shares past the deadline: the assertions below are not vacuous
            await miner.mine(lambda: len(_after_deadline(miner.submitted, interval)) >= 3, 60)
            pipe.send((miner.told, miner.submitted))
            pipe.recv()  # the parent read the session's difficulty
        finally:
            await miner.close()

    asyncio.run(run())


def test_a_miner_switching_only_on_new_header_bytes_takes_vardiffs_difficulty_in_time(
    node: Node,
) -> None:
    """cpuminer's way over TCP: vardiff's first retarget reaches the miner within two share
    intervals of its first share, and from then on it hashes at the difficulties vardiff
    sets. Were a retarget's work the same header bytes under a new job id, it would go on
    hashing its old work at the start difficulty (until a job refresh, which does not come
    here): hundreds of shares at 2**-21. The miner is a process of its own, as cpuminer is:
    hashing in the server's process would take the interpreter from the server's threads."""
    interval = 1.0
    start = Fraction(1, 2**21)  # 2,048 hashes a share: the first window closes at once
    limits = Limits(start, Fraction(2**32), start, share_interval_s=interval)
    config = StratumConfig(limits=limits, job_refresh_s=600.0)
    begun = time.monotonic()
    # the node's clock, running: vardiff measures real seconds, ingest sees its own time
    stratum = server_for(node, config, clock=lambda: node.clock.now() + time.monotonic() - begun)
    port = free_port()
    spawn = multiprocessing.get_context("spawn")

    async def scenario() -> tuple[list[tuple[float, str, float]], list[Submitted], Fraction]:
        sink = asyncio.create_task(stratum.sink.run())
        server = await stratum.serve("127.0.0.1", port)
        ours, theirs = spawn.Pipe()
        process = spawn.Process(target=_mine, args=(port, interval, theirs), daemon=True)
        process.start()
        try:
            ready = await asyncio.to_thread(ours.poll, 90)
            assert ready, "the miner did not get there in time"
            told, submitted = ours.recv()
            (session,) = stratum.sessions
            settled = session.difficulty
            ours.send("done")
            await until(lambda: not stratum.sessions, 10, "the connection's end")
            return told, submitted, settled
        finally:
            await asyncio.to_thread(process.join, 30)
            if process.is_alive():
                process.kill()
            server.close()
            await server.wait_closed()
            sink.cancel()

    told, submitted, settled = asyncio.run(scenario())
    first = submitted[0].at
    at_start = [s for s in submitted if s.diff == float(start)]
    assert len(at_start) >= SHARES_PER_WINDOW  # the first window, which raised it
    assert settled > start  # a Python miner does far more than the 200 H/s start wants
    told_higher = min(at for at, _, diff in told if diff > float(start))
    assert told_higher <= first + 2 * interval
    # the start difficulty's work is left as soon as a higher difficulty is told (shares
    # found before were in flight: the server answers a connection's submits in turn)
    assert all(s.at < told_higher for s in at_start)
    assert all(s.diff > float(start) for s in _after_deadline(submitted, interval))
