"""The cluster roles as real processes on a real PostgreSQL store: ``poolstats api`` replicas
and ``poolstats jobs`` with its lease."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.nodes import Node, Process, free_port, run, shares, wait_for
from tests.services import fresh_database

pytestmark = pytest.mark.slow

SUBSIDY_840000_SAT = 312_500_000  # 3.125 BTC: the block subsidy from height 840,000
UNITS_PER_DIFF = 2**20  # the work table's difficulty unit


@pytest.fixture
def pg() -> Iterator[str]:
    yield from fresh_database()


def query(url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


class Api(Process):
    """One ``poolstats api`` on a free port; output in ``<tmp>/api-<port>.log``."""

    def __init__(self, tmp: Path, store_url: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            tmp / f"api-{self.port}.log",
            "api",
            "--store-url",
            store_url,
            "--port",
            str(self.port),
            *args,
        )
        wait_for(self.answers, 60, "the api process to answer /healthz")

    def answers(self) -> bool:
        self.running()
        try:
            httpx.get(self.url + "/healthz", timeout=2)
        except httpx.TransportError:
            return False
        return True

    def get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(self.url + path, params=params, timeout=30)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()

    def samples(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(self.url + "/metrics", timeout=10).text
        return {
            tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name
        }


# --- poolstats api -------------------------------------------------------------------------


def test_two_api_replicas_answer_the_stored_figures_and_one_survives_the_others_kill(
    pg: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    made = run("user", "create", "alice", "--store-url", pg, "--data-dir", str(data))
    assert made.returncode == 0, made.stderr
    key = made.stdout.split('"access_key": "')[1].split('"')[0]
    sent = {"rig1": 30, "rig2": 12}  # shares of difficulty 1024 each
    with Node(data, "--store-url", pg) as node:
        for worker, n in sent.items():
            assert node.post(shares(worker, n, time.time() - 5)).status_code == 200
        wait_for(
            lambda: dict(query(pg, "SELECT worker_name, accept_count FROM workers")) == sent,
            60,
            "the node to flush both workers",
        )
    # the node stopped (its last flush stored): the store no longer changes under the replicas
    replicas = [Api(tmp_path, pg, "--flush-interval", "0.2") for _ in range(2)]
    try:

        def figures(api: Api) -> tuple[dict[str, int], Any]:
            workers = api.get("/v1/worker", access_key=key, puid=1)["data"]["data"]
            pool = api.get("/public/v1/pool/stats")
            return {w["worker_name"]: int(w["accept_count"]) for w in workers}, pool

        first, second = figures(replicas[0]), figures(replicas[1])
        assert first == second
        assert first[0] == sent
        row = query(pg, "SELECT accept_15m, updated_at FROM pool_stats WHERE id = 1")[0]
        assert row[0] == 1024.0 * sum(sent.values())

        health = replicas[0].get("/healthz")
        assert [p["partition"] for p in health["partitions"]] == [0]
        assert health["partitions"][0]["last_flush"] == row[1]
        # no shares here: a producer pointed at an api process is told where they go
        refused = httpx.post(replicas[0].url + "/ingest/shares", content=b"{}", timeout=10)
        assert refused.status_code == 404
        assert "gateway" in refused.json()["errors"][0]["error"]

        replicas[0].kill()
        assert figures(replicas[1]) == second
        with pytest.raises(httpx.TransportError):
            httpx.get(replicas[0].url + "/healthz", timeout=2)
    finally:
        for api in replicas:
            api.stop()


def _migrated(url: str, tmp: Path) -> None:
    done = run("migrate", "--store-url", url, "--data-dir", str(tmp / "migrate"))
    assert done.returncode == 0, done.stderr


def test_api_healthz_and_metrics_show_a_partition_stale_when_its_pool_row_is_old(
    pg: str, tmp_path: Path
) -> None:
    _migrated(pg, tmp_path)
    now = int(time.time())
    old = now - 3600
    # partition 0 flushed just now, partition 1 an hour ago and its aggregator's lease expired
    with psycopg.connect(pg) as conn:
        for row_id, accept_15m, updated_at in ((1, 900.0, now), (2, 1800.0, old)):
            conn.execute(
                "INSERT INTO pool_stats (id, accept_15m, updated_at) VALUES (%s, %s, %s)",
                (row_id, accept_15m, updated_at),
            )
        conn.execute(
            "INSERT INTO leases (name, holder, epoch, expires_at, acquired_at) "
            "VALUES ('aggregate/1', 'gone:1:x', 3, %s, %s)",
            (old + 6, old - 60),
        )
        for puid, accept in ((7, 300.0), (8, 1500.0)):
            conn.execute(
                "INSERT INTO subaccount_stats (puid, accept_15m, updated_at) VALUES (%s, %s, %s)",
                (puid, accept, now),
            )
    api = Api(tmp_path, pg, "--partitions", "2", "--flush-interval", "10")
    try:
        answer = httpx.get(api.url + "/healthz", timeout=10)
        assert answer.status_code == 200
        health = answer.json()
        assert health["status"] == "degraded"
        fresh, stale = health["partitions"]
        assert (fresh["partition"], fresh["stale"], fresh["lease"]) == (0, False, None)
        assert (stale["partition"], stale["stale"], stale["last_flush"]) == (1, True, old)
        assert stale["lease"] == {"holder": "gone:1:x", "expired": True}
        assert len(health["reasons"]) == 1 and health["reasons"][0].startswith("partition 1:")

        ages = api.samples("poolstats_partition_flush_age_seconds")
        assert ages[(("partition", "0"),)] < 60
        assert 3600 <= ages[(("partition", "1"),)] < 3660
        pool = api.samples("poolstats_pool_hashrate_hs")
        rate_15m = next(v for labels, v in pool.items() if ("window", "15m") in labels)
        assert rate_15m == pytest.approx((900.0 + 1800.0) * 2**32 / 900)
        subs = api.samples("poolstats_subaccount_hashrate_hs")
        by_puid = {dict(k)["puid"]: v for k, v in subs.items() if dict(k)["window"] == "15m"}
        assert by_puid == {
            "7": pytest.approx(300.0 * 2**32 / 900),
            "8": pytest.approx(1500.0 * 2**32 / 900),
        }
    finally:
        api.stop()


# --- poolstats jobs ------------------------------------------------------------------------


def _holder_pid(url: str) -> int | None:
    rows = query(url, "SELECT holder, expires_at FROM leases WHERE name = 'jobs'")
    if not rows or rows[0][1] <= time.time():
        return None
    return int(rows[0][0].split(":")[1])  # host:pid:random (leaseholder.holder_id)


def _settling(url: str) -> bool:
    """A jobs process is inside its settlement transaction: it has read the work rows and
    not committed (computing the earnings, or writing them)."""
    rows = query(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
        "AND (query ILIKE '%%FROM work%%' OR query ILIKE '%%INSERT INTO earnings%%')",
    )
    return bool(rows[0][0])


def test_two_jobs_processes_settle_a_day_once_when_the_active_one_is_killed_mid_settlement(
    pg: str, tmp_path: Path
) -> None:
    _migrated(pg, tmp_path)
    now = int(time.time())
    yesterday = now - now % 86400 - 86400
    n = 30_000  # sub-accounts with work yesterday: a settlement that takes a moment
    difficulty = 1000
    with psycopg.connect(pg) as conn:
        conn.execute("INSERT INTO accounts (id, name, created_at) VALUES (1, 'pool', %s)", (now,))
        with conn.cursor().copy(
            "COPY subaccounts (puid, account_id, name, created_at) FROM STDIN"
        ) as copy:
            for puid in range(1, n + 1):
                copy.write_row((puid, 1, f"user{puid}", now))
        conn.execute(
            "INSERT INTO network_history (at, difficulty, height, fees_per_block_sat, source, "
            "recorded_at) VALUES (%s, %s, 840000, 0, 'cli', %s)",
            (yesterday, str(difficulty), now),
        )
        with conn.cursor().copy(
            "COPY work (day, puid, net_at, diff_hi, diff_lo, capped) FROM STDIN"
        ) as copy:
            for puid in range(1, n + 1):  # 10 x puid difficulty of shares, uncapped
                copy.write_row((yesterday, puid, yesterday, 0, 10 * puid * UNITS_PER_DIFF, 0))
    # PPS without fee: difficulty / network difficulty x subsidy, per sub-account
    expected = {p: 10 * p * SUBSIDY_840000_SAT // difficulty for p in range(1, n + 1)}
    ttl = 3.0
    settings = {"settle_after_s": 0, "pool_fee_rate": "0", "lease_ttl_s": ttl, "alert_check_s": 1}
    jobs = [
        Process(tmp_path / f"jobs-{i}.log", "jobs", "--store-url", pg, settings=settings)
        for i in range(2)
    ]
    by_pid = {j.process.pid: j for j in jobs}
    try:
        wait_for(lambda: all(j.running() for j in jobs) and _settling(pg), 60, "a settlement")
        active = by_pid[_holder_pid(pg) or 0]
        active.kill()
        killed_at = time.time()
        assert query(pg, "SELECT count(*) FROM earnings") == [(0,)]  # killed before its commit
        standby = next(j for j in jobs if j is not active)
        assert "jobs: active" not in standby.log()  # one active at a time

        wait_for(lambda: _holder_pid(pg) == standby.process.pid, 30, "the standby's take-over")
        took_over = query(pg, "SELECT acquired_at FROM leases WHERE name = 'jobs'")[0][0]
        assert took_over - killed_at <= ttl + 1.5
        print(f"jobs: standby took the lease {took_over - killed_at:.2f} s after the kill")
        wait_for(
            lambda: (
                query(pg, "SELECT value FROM meta WHERE key = 'settled_through'")
                == [(str(yesterday),)]
            ),
            60,
            "the standby to settle the day",
        )
        rows = dict(query(pg, "SELECT puid, amount_sat FROM earnings WHERE day = %s", yesterday))
        assert rows == expected
        assert query(pg, "SELECT count(*), sum(amount_sat) FROM earnings") == [
            (n, sum(expected.values()))
        ]
        assert query(pg, "SELECT count(*) FROM work") == [(0,)]
        assert standby.log().count("jobs: active") == 1
    finally:
        for j in jobs:
            j.stop()
