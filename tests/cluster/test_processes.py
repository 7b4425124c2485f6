"""The cluster as operators run it: real nats-server, PostgreSQL and poolstats processes.

Every acknowledged share must be counted exactly once, whatever is killed: the totals the
store ends with are compared with what the test itself sent.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import psycopg
import pytest

from poolstats.config import Settings
from poolstats.domain.partitions import partition_of
from tests.bus.nats_servers import NatsServer
from tests.bus.nats_servers import cluster as nats_cluster
from tests.nodes import TOKEN, Process, free_port, run, wait_for
from tests.postgres_server import PostgresServer
from tests.services import fresh_database

pytestmark = pytest.mark.slow
USERS = 6
PARTITIONS = 2
DIFF = 1024.0


@pytest.fixture
def store_url() -> Iterator[str]:
    yield from fresh_database()


def lease_holder(store_url: str, name: str) -> tuple[str, int] | None:
    """(holder, epoch) of an unexpired lease, else None."""
    with psycopg.connect(store_url) as db:
        row = db.execute(
            "SELECT holder, epoch FROM leases WHERE name = %s AND expires_at > %s",
            (name, time.time()),
        ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def new_user(store_url: str, tmp_path: Path, name: str) -> int:
    """A sub-account made as an operator makes one (``poolstats user create``): its puid."""
    out = run("user", "create", name, "--store-url", store_url,
              "--data-dir", str(tmp_path / "admin"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    return int(msgspec.json.decode(out.stdout)["puid"])


def holder_pid(holder: str) -> int:
    return int(holder.split(":")[1])


def stored_workers(store_url: str) -> dict[tuple[int, str], int]:
    with psycopg.connect(store_url) as db:
        rows = db.execute("SELECT puid, worker_name, accept_count FROM workers").fetchall()
    return {(int(p), str(w)): int(n) for p, w, n in rows}


def stored_history(store_url: str) -> dict[int, float]:
    """Accepted difficulty per sub-account in the hourly history: counted once or not."""
    with psycopg.connect(store_url) as db:
        rows = db.execute(
            "SELECT puid, sum(accept) FROM history_subaccount WHERE period_s = 3600 GROUP BY puid"
        ).fetchall()
    return {int(p): float(a) for p, a in rows}


def stored_worker_hours(store_url: str) -> dict[tuple[int, str], float]:
    """Accepted difficulty per worker in its hourly history: closed hours' rows plus the open
    hour its worker row carries."""
    with psycopg.connect(store_url) as db:
        rows = db.execute(
            "SELECT w.puid, w.worker_name, w.hour_accept + coalesce("
            " (SELECT sum(h.accept) FROM history_worker h WHERE h.period_s = 3600"
            "  AND h.puid = w.puid AND h.worker_id = w.worker_id), 0) FROM workers w"
        ).fetchall()
    return {(int(p), str(w)): float(a) for p, w, a in rows}


def test_killing_the_active_aggregator_loses_and_doubles_nothing(
    tmp_path: Path, store_url: str
) -> None:
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    settings = {
        "bus_url": nats.url, "store_url": store_url, "partitions": PARTITIONS,
        "flush_interval_s": 0.5, "ingest_token": TOKEN,
    }  # fmt: skip
    puids = []
    for i in range(USERS):
        puids.append(new_user(store_url, tmp_path, f"miner{i}"))
    assert {partition_of(p, PARTITIONS) for p in puids} == {0, 1}
    procs: list[Process] = []

    def start(name: str, *args: str) -> Process:
        folder = tmp_path / name
        folder.mkdir()
        proc = Process(tmp_path / f"{name}.log", *args, "--data-dir", str(folder),
                       settings=settings)  # fmt: skip
        procs.append(proc)
        return proc

    try:
        port = free_port()
        gateway = start("gateway", "gateway", "--port", str(port))
        first = start("agg0-a", "aggregate", "--partition", "0")
        wait_for(lambda: lease_holder(store_url, "aggregate/0"), 60, "partition 0's lease")
        second = start("agg0-b", "aggregate", "--partition", "0")  # the standby
        start("agg1", "aggregate", "--partition", "1")
        wait_for(lambda: lease_holder(store_url, "aggregate/1"), 60, "partition 1's lease")
        url = f"http://127.0.0.1:{port}/ingest/shares"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
        wait_for(lambda: gateway.running() and _answers(port), 60, "the gateway")

        sent: Counter[tuple[int, str]] = Counter()
        killed_at = 0.0
        with httpx.Client(timeout=30) as client:
            for batch in range(60):
                now = time.time()
                events = [
                    {"ts": now, "puid": puids[(batch + i) % USERS], "worker": f"rig{i % 7}",
                     "diff": DIFF, "accepted": True}
                    for i in range(50)
                ]  # fmt: skip
                body = b"".join(msgspec.json.encode(e) + b"\n" for e in events)
                key = {"Idempotency-Key": f"batch-{batch}"}
                answer = client.post(url, content=body, headers={**headers, **key})
                assert answer.status_code == 200, answer.text
                assert answer.json()["accepted"] == 50
                if batch % 10 == 3:  # a producer's retry after a lost answer: counted once
                    again = client.post(url, content=body, headers={**headers, **key})
                    assert again.json()["accepted"] == 50
                for e in events:
                    sent[(int(e["puid"]), str(e["worker"]))] += 1  # type: ignore[call-overload]
                if batch == 25:  # mid-ingest: the active aggregator of partition 0 dies
                    holder = lease_holder(store_url, "aggregate/0")
                    assert holder is not None
                    victim = first if holder_pid(holder[0]) == first.pid else second
                    victim.kill()
                    killed_at = time.monotonic()
                    survivor = second if victim is first else first

        def taken_over() -> bool:
            holder = lease_holder(store_url, "aggregate/0")
            return holder is not None and holder_pid(holder[0]) == survivor.pid

        wait_for(taken_over, 20, "the standby to take partition 0 over")
        took_s = time.monotonic() - killed_at
        assert took_s <= 10.0, took_s
        wait_for(lambda: stored_workers(store_url) == dict(sent), 60,
                 "every acknowledged share in the store")  # fmt: skip
        by_puid: Counter[int] = Counter()
        for (puid, _), n in sent.items():
            by_puid[puid] += n
        assert stored_history(store_url) == {p: n * DIFF for p, n in by_puid.items()}
        assert stored_worker_hours(store_url) == {k: n * DIFF for k, n in sent.items()}
    finally:
        for proc in procs:
            proc.kill()  # nothing to do for one that has exited
        nats.stop()


def post_batch(
    client: httpx.Client, port: int, key: str, puid: int, names: list[str], retry: bool = True
) -> None:
    """One accepted share per name (difficulty ``DIFF``, time now) to the gateway on ``port``
    with Idempotency-Key ``key``: with ``retry`` (what a producer does) sent again while the
    gateway cannot reach the bus (503) or cannot be reached, until acknowledged."""
    now = time.time()
    body = b"".join(
        msgspec.json.encode({"ts": now, "puid": puid, "worker": n, "diff": DIFF,
                             "accepted": True}) + b"\n"
        for n in names
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson",
               "Idempotency-Key": key}  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, f"batch {key} never acknowledged"
        try:
            answer = client.post(f"http://127.0.0.1:{port}/ingest/shares", content=body,
                                 headers=headers)  # fmt: skip
        except httpx.TransportError:
            if retry:
                continue
            raise
        if answer.status_code == 200:
            assert answer.json()["accepted"] == len(names)
            return
        assert retry and answer.status_code == 503, answer.text


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def flushing(store_url: str) -> bool:
    """Whether a flush transaction is writing now (seen from PostgreSQL's side)."""
    with psycopg.connect(store_url) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND (query LIKE 'COPY stage_%' OR query LIKE 'UPDATE workers%'"
            " OR query LIKE 'INSERT INTO workers%')"
        ).fetchone()
    return bool(row and row[0])


def test_an_aggregator_killed_in_a_flush_and_a_restarted_bus_lose_and_double_nothing(
    tmp_path: Path, store_url: str
) -> None:
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    settings = {
        "bus_url": nats.url, "store_url": store_url, "partitions": 1,
        "flush_interval_s": 0.3, "ingest_token": TOKEN,
    }  # fmt: skip
    puid = new_user(store_url, tmp_path, "miner")
    procs: list[Process] = []
    folder = tmp_path / "agg"
    folder.mkdir()

    def start(name: str, *args: str, data_dir: Path) -> Process:
        proc = Process(tmp_path / f"{name}.log", *args, "--data-dir", str(data_dir),
                       settings=settings)  # fmt: skip
        procs.append(proc)
        return proc

    sent: Counter[str] = Counter()
    port = free_port()
    def send(client: httpx.Client, batch: int, workers: int) -> None:
        names = [f"rig{(batch * 997 + i) % workers}" for i in range(2000)]
        post_batch(client, port, f"b{batch}", puid, names)
        sent.update(names)

    try:
        gateway_dir = tmp_path / "gw"
        gateway_dir.mkdir()
        start("gateway", "gateway", "--port", str(port), data_dir=gateway_dir)
        first = start("agg-1", "aggregate", "--partition", "0", data_dir=folder)
        wait_for(lambda: lease_holder(store_url, "aggregate/0"), 60, "the lease")
        wait_for(lambda: _answers(port), 60, "the gateway")
        with httpx.Client(timeout=30) as client:
            for batch in range(15):  # 30,000 workers: flushes long enough to be caught in
                send(client, batch, 30_000)
            wait_for(lambda: flushing(store_url), 60, "a flush in progress")
            first.kill()  # killed in the middle of a flush: its transaction rolls back
            for batch in range(15, 25):
                send(client, batch, 30_000)
            second = start("agg-2", "aggregate", "--partition", "0", data_dir=folder)
            wait_for(lambda: second.running() and lease_holder(store_url, "aggregate/0"),
                     30, "the restarted aggregator's lease")  # fmt: skip
            nats.stop()  # the bus goes away during ingest: producers get 503 and retry
            nats.start(wait=False)
            for batch in range(25, 35):
                send(client, batch, 30_000)
        wait_for(lambda: {w: n for (_, w), n in stored_workers(store_url).items()} == sent,
                 90, "every acknowledged share in the store")  # fmt: skip
        assert stored_history(store_url) == {puid: sum(sent.values()) * DIFF}
        assert stored_worker_hours(store_url) == {(puid, w): n * DIFF for w, n in sent.items()}
    finally:
        for proc in procs:
            proc.kill()  # nothing to do for one that has exited
        nats.stop()


def test_postgresql_restarted_during_flushes_loses_and_doubles_nothing(tmp_path: Path) -> None:
    pg = PostgresServer()
    pg.start()
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    settings = {
        "bus_url": nats.url, "store_url": pg.url, "partitions": 1,
        "flush_interval_s": 0.3, "ingest_token": TOKEN,
    }  # fmt: skip
    puid = new_user(pg.url, tmp_path, "miner")
    procs: list[Process] = []
    for name, args in (("gateway", ("gateway",)), ("agg", ("aggregate", "--partition", "0"))):
        folder = tmp_path / name
        folder.mkdir()
        procs.append(Process(tmp_path / f"{name}.log", *args, "--data-dir", str(folder),
                             settings=settings))  # fmt: skip
    port_of_gateway = free_port()
    procs[0].stop()  # restarted on a port the test knows
    procs[0] = Process(tmp_path / "gateway.log", "gateway", "--port", str(port_of_gateway),
                       "--data-dir", str(tmp_path / "gateway"), settings=settings)  # fmt: skip
    sent: Counter[str] = Counter()
    try:
        wait_for(lambda: lease_holder(pg.url, "aggregate/0"), 60, "the lease")
        wait_for(lambda: _answers(port_of_gateway), 60, "the gateway")
        with httpx.Client(timeout=30) as client:

            def send(batch: int) -> None:
                names = [f"rig{(batch * 31 + i) % 500}" for i in range(200)]
                post_batch(client, port_of_gateway, f"b{batch}", puid, names, retry=False)
                sent.update(names)  # the bus takes it while the store is down

            for batch in range(10):
                send(batch)
            wait_for(lambda: sum(stored_workers(pg.url).values()) == sum(sent.values()), 30,
                     "the first batches stored")  # fmt: skip
            pg.stop()  # flushes fail: the aggregator keeps its counts and retries
            stopped = time.monotonic()
            for batch in range(10, 30):
                send(batch)
            # The outage outlasts the lease: the aggregator stops counting itself the holder,
            # and must take the partition again with what it counted meanwhile.
            time.sleep(max(0.0, Settings().lease_ttl_s + 1.0 - (time.monotonic() - stopped)))
            procs[1].running()
            pg.start()
            for batch in range(30, 40):
                send(batch)
        wait_for(lambda: {w: n for (_, w), n in stored_workers(pg.url).items()} == sent,
                 60, "every acknowledged share in the store")  # fmt: skip
        assert stored_history(pg.url) == {puid: sum(sent.values()) * DIFF}
        assert stored_worker_hours(pg.url) == {(puid, w): n * DIFF for w, n in sent.items()}
    finally:
        for proc in procs:
            proc.kill()  # nothing to do for one that has exited
        nats.stop()
        pg.remove()


def test_a_three_server_bus_losing_one_server_goes_on_counting_exactly(
    tmp_path: Path, store_url: str
) -> None:
    servers = nats_cluster(tmp_path / "nats")
    for server in servers:
        server.start(wait=False)
    for server in servers:
        server.wait_ready()
    settings = {
        "bus_url": ",".join(s.url for s in servers), "bus_replicas": 3, "store_url": store_url,
        "partitions": 1, "flush_interval_s": 0.3, "ingest_token": TOKEN,
    }  # fmt: skip
    puid = new_user(store_url, tmp_path, "miner")
    port = free_port()
    procs = []
    for name, args in (("gateway", ("gateway", "--port", str(port))),
                       ("agg", ("aggregate", "--partition", "0"))):  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        procs.append(Process(tmp_path / f"{name}.log", *args, "--data-dir", str(folder),
                             settings=settings))  # fmt: skip
    sent: Counter[str] = Counter()
    try:
        wait_for(lambda: lease_holder(store_url, "aggregate/0"), 60, "the lease")
        wait_for(lambda: _answers(port), 60, "the gateway")
        with httpx.Client(timeout=30) as client:
            for batch in range(30):
                if batch == 10:
                    servers[0].stop()  # one of three: the stream keeps a quorum of replicas
                names = [f"rig{(batch * 13 + i) % 300}" for i in range(200)]
                # a retry while the bus elects a new leader is the producer's part
                post_batch(client, port, f"b{batch}", puid, names)
                sent.update(names)
        wait_for(lambda: {w: n for (_, w), n in stored_workers(store_url).items()} == sent,
                 90, "every acknowledged share in the store")  # fmt: skip
        assert stored_history(store_url) == {puid: sum(sent.values()) * DIFF}
    finally:
        for proc in procs:
            proc.kill()  # nothing to do for one that has exited
        for server in servers:
            server.stop()
