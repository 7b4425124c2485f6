"""The fleet model: determinism, statistics, churn, names and both wire encodings."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import defaultdict
from collections.abc import Iterator

import msgspec
import numpy as np
import pytest

from poolstats.domain.workers import normalize_worker_name
from poolstats.ingest.columnar import decode_columnar
from poolstats.ingest.ndjson import decode_ndjson
from poolstats.simulate.fleet import TWO_32, Fleet, Miner, Shares
from tests.simulate.rows import share_rows

START = 1_700_000_000.0
USERS = ["alice", "bob", "carol"]
DOC_NETS = [
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


def run_fleet(fleet: Fleet, span_s: float, step_s: float) -> Iterator[tuple[float, Shares]]:
    """Advance in fixed steps with a fake clock, yielding (now, shares) after each step."""
    t = fleet.time
    for k in range(1, int(span_s / step_s) + 1):
        now = t + k * step_s
        yield now, fleet.advance(now)


def test_same_seed_same_shares() -> None:
    steps = [0.5, 1.0, 7.25, 60.0, 600.0]
    a = Fleet(USERS, 20, seed=7, start=START, churn_per_hour=1.0)
    b = Fleet(USERS, 20, seed=7, start=START, churn_per_hour=1.0)
    c = Fleet(USERS, 20, seed=8, start=START, churn_per_hour=1.0)
    for s in steps:
        sa, sb, sc = a.advance(START + s), b.advance(START + s), c.advance(START + s)
        assert sa.rows() == sb.rows()
        assert sa.users == sb.users and sa.workers == sb.workers and sa.ips == sb.ips
    assert a.miners() == b.miners()
    assert sa.rows() != sc.rows()


def test_accepted_hashrate_matches_expected_without_churn() -> None:
    """2 h in 10 s steps; no churn, so expected_hashrate_hs() is constant.

    Tolerance: miner i's accepted shares are Poisson with mean mu_i = H_i T / (d_i 2^32), so
    S = sum d_i N_i has E[S] = T sum H_i / 2^32 and Var[S] = T sum d_i H_i / 2^32. We allow
    5 standard deviations (two-sided chance of a false failure ~6e-7; the seed is fixed anyway).
    """
    fleet = Fleet(USERS, 20, seed=1, start=START, churn_per_hour=0.0)
    expected = fleet.expected_hashrate_hs()
    span = 2 * 3600.0
    steps = run_fleet(fleet, span, 10.0)
    accepted_diff = sum(float(s.diff[s.status == 0].sum()) for _, s in steps)
    measured = accepted_diff * TWO_32 / span

    miners = fleet.miners()
    sigma = math.sqrt(sum(m.diff * m.hashrate_hs for m in miners) * span / TWO_32) * TWO_32 / span
    assert fleet.expected_hashrate_hs() == expected
    assert expected == pytest.approx(sum(m.hashrate_hs for m in miners), rel=1e-12)
    assert abs(measured - expected) <= 5 * sigma, (measured, expected, sigma)
    assert sigma / expected < 0.02  # the test has teeth: 5 sigma is under 10 %


def test_accepted_hashrate_matches_running_miners_with_churn() -> None:
    """With churn, compare with the integral of expected_hashrate_hs() over time.

    Each step's integral is computed exactly from the miners' start/stop instants; that it is
    the integral of expected_hashrate_hs() is checked by sampling it. Same 5-sigma tolerance
    as above with T_i the time miner i ran.
    """
    fleet = Fleet(USERS, 20, seed=2, start=START, churn_per_hour=0.5)
    span = 2 * 3600.0
    samples = []
    accepted_diff = 0.0
    for now, shares in run_fleet(fleet, span, 10.0):
        accepted_diff += float(shares.diff[shares.status == 0].sum())
        samples.append((now, fleet.expected_hashrate_hs()))

    miners = fleet.miners()
    end = START + span

    def ran(m: Miner) -> float:
        stop = end if m.stopped_at is None else min(m.stopped_at, end)
        return max(0.0, stop - max(m.started_at, START))

    for now, rate in samples:  # expected_hashrate_hs() is the sum over the running miners
        running = [m for m in miners if m.started_at <= now and (m.stopped_at or math.inf) > now]
        assert rate == pytest.approx(sum(m.hashrate_hs for m in running), rel=1e-12)

    hashes = sum(m.hashrate_hs * ran(m) for m in miners)
    variance = sum(m.diff * m.hashrate_hs * ran(m) for m in miners) / TWO_32
    expected_diff = hashes / TWO_32
    assert abs(accepted_diff - expected_diff) <= 5 * math.sqrt(variance)
    assert sum(1 for m in miners if m.stopped_at is not None) >= 20  # churn really happened
    assert len(miners) > 60  # and new miners appeared


def test_reject_fraction_and_per_miner_rates() -> None:
    fleet = Fleet(USERS, 20, seed=3, start=START)
    shares = Shares.concat([s for _, s in run_fleet(fleet, 3600.0, 10.0)])
    status = np.bincount(shares.status, minlength=3)
    assert len(shares) > 20_000
    assert 0.01 <= (status[1] + status[2]) / len(shares) <= 0.03
    assert status[2] > 0 and status[1] > 0  # some rejects are stale
    assert all(0.01 <= m.reject_rate <= 0.03 for m in fleet.miners())


def test_stopped_miners_go_quiet_and_new_ones_appear() -> None:
    fleet = Fleet(USERS, 10, seed=4, start=START, churn_per_hour=3.0)
    last_seen: dict[tuple[str, str], float] = {}
    first_seen: dict[tuple[str, str], float] = {}
    for _, shares in run_fleet(fleet, 3600.0, 10.0):
        for ts, user, worker, *_ in shares.rows():
            last_seen[(user, worker)] = ts
            first_seen.setdefault((user, worker), ts)
    miners = {(m.user, m.worker): m for m in fleet.miners()}
    stopped = [m for m in miners.values() if m.stopped_at is not None]
    new = [m for m in miners.values() if m.started_at > START]
    assert len(stopped) >= 15 and len(new) >= 15
    for key, ts in last_seen.items():
        m = miners[key]
        assert m.started_at < first_seen[key]
        assert m.stopped_at is None or ts <= m.stopped_at
    late = fleet.advance(fleet.time + 600.0)
    assert len(late) > 0
    assert not {(u, w) for _, u, w, *_ in late.rows()} & {(m.user, m.worker) for m in stopped}


def test_ts_sorted_and_within_the_step() -> None:
    fleet = Fleet(USERS, 30, seed=5, start=START, churn_per_hour=2.0)
    last = START
    for now in (START + 0.001, START + 1.0, START + 1.5, START + 31.0, START + 3600.0):
        shares = fleet.advance(now)
        assert np.all(np.diff(shares.ts) >= 0)
        if len(shares):
            assert shares.ts[0] > last and shares.ts[-1] <= now
        assert fleet.time == now
        last = now
    assert len(fleet.advance(last)) == 0
    with pytest.raises(ValueError, match="only advances"):
        fleet.advance(last - 1)


def test_names_addresses_and_difficulties() -> None:
    fleet = Fleet([f"user{i}" for i in range(20)], 50, seed=6, start=START)
    miners = fleet.miners()
    by_user: dict[str, set[str]] = defaultdict(set)
    for m in miners:
        normalized = normalize_worker_name(m.worker)
        assert normalized not in by_user[m.user], "two miners would be one worker on the pool"
        by_user[m.user].add(normalized)
        assert 0 < len(m.worker) <= 128
        addr = ipaddress.ip_address(m.ip)
        assert any(addr in net for net in DOC_NETS), m.ip
        assert m.diff >= 1 and math.log2(m.diff).is_integer()
        ideal = m.hashrate_hs * 10.0 / TWO_32  # one share per ~10 s
        if ideal >= 1:
            assert abs(math.log2(m.diff / ideal)) <= 0.5 + 1e-9
        else:
            assert m.diff == 1
    odd = [m.worker for m in miners if normalize_worker_name(m.worker) != m.worker]
    assert len(odd) >= 20 and any(not w.isascii() for w in odd)
    assert any(normalize_worker_name(w) == "__default__" for w in odd)
    assert any(":" in m.ip for m in miners) and any("." in m.ip for m in miners)
    hashrates = np.array([m.hashrate_hs for m in miners])
    asics = hashrates[hashrates > 2e12]
    assert 70e12 < float(np.median(asics)) < 140e12
    small = hashrates[hashrates < 1.0001e12]
    assert 0.05 < len(small) / len(hashrates) < 0.15 and small.min() >= 10e9 * 0.9999


def test_ndjson_lines_follow_the_contract() -> None:
    fleet = Fleet(USERS, 20, seed=9, start=START)
    shares = fleet.advance(START + 600.0)
    body = shares.to_ndjson()
    lines = body.splitlines()
    assert len(lines) == len(shares) > 0
    decoded = [msgspec.json.decode(line) for line in lines]
    allowed = {"ts", "user", "worker", "diff", "accepted", "status", "ip"}
    rows = shares.rows()
    for obj, (ts, user, worker, diff, status, ip) in zip(decoded, rows, strict=True):
        assert isinstance(obj, dict) and set(obj) <= allowed
        assert (obj["ts"], obj["user"], obj["worker"], obj["diff"], obj["ip"]) == (
            ts,
            user,
            worker,
            diff,
            ip,
        )
        if status == 2:
            assert obj["status"] == "stale" and "accepted" not in obj
        else:
            assert obj["accepted"] is (status == 0) and "status" not in obj
    assert any(o.get("status") == "stale" for o in decoded)
    assert any(o.get("accepted") is False for o in decoded)
    # And the service's own decoder reads it back to the same values.
    cols, refused = decode_ndjson(body)
    assert refused == []
    assert share_rows(cols) == rows


def test_columnar_decodes_to_the_same_values() -> None:
    fleet = Fleet(USERS, 20, seed=10, start=START)
    shares = fleet.advance(START + 600.0)
    cols, refused = decode_columnar(shares.to_columnar())
    assert refused == [] and len(cols) == len(shares) > 0
    assert share_rows(cols) == shares.rows()
    assert np.all(cols.w_puid == 0)  # named by user, not puid


def test_slice_and_concat_keepshare_rows() -> None:
    fleet = Fleet(USERS, 20, seed=11, start=START)
    a, b = fleet.advance(START + 100.0), fleet.advance(START + 200.0)
    both = Shares.concat([a, b])
    assert both.rows() == a.rows() + b.rows()
    assert len(set(both.workers)) == len(both.workers)
    parts = [both.slice(i, i + 97) for i in range(0, len(both), 97)]
    assert Shares.concat(parts).rows() == both.rows()
    assert len(Shares.concat([])) == 0 and Shares.empty().to_ndjson() == b""
    assert decode_columnar(Shares.empty().to_columnar())[0].ts.size == 0


def test_large_fleet_advances_one_second_quickly() -> None:
    fleet = Fleet([f"user{i:03d}" for i in range(100)], 1000, seed=12, start=START)
    assert len(fleet) == 100_000
    timings = []
    for k in range(1, 6):
        t0 = time.perf_counter()
        shares = fleet.advance(START + k)
        timings.append(time.perf_counter() - t0)
        # ~100k miners at one share per ~10 s each (difficulty rounded to a power of two)
        assert 5_000 < len(shares) < 20_000
    assert min(timings) < 0.1, timings
