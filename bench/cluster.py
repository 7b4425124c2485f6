"""The cluster end to end: ``poolstats gateway`` → NATS JetStream → ``poolstats aggregate``
→ PostgreSQL, every part a real process on loopback, the load from a process of its own.

Three measurements (``run``):

- ``ingest``: shares/s acknowledged by the gateway(s) and shares/s counted into the store,
  for 1, 2 and 4 partitions and 1 or 2 gateways. The store's ``sum(accept_count)`` must end
  equal to what the gateways acknowledged, exactly.
- ``lag``: 1,000,000 workers (10,000 sub-accounts × 100) sending continuously; for each
  acknowledged request, the time until the flush holding it was committed. The request's
  stream sequence per partition is read back from the stream afterwards (its ``Nats-Msg-Id``
  is the request's Idempotency-Key plus the partition), and the commit time is the first poll
  of the partition's stored sequence (``meta`` ``history_seq/K``, polled every 50 ms) at or
  past it: an upper bound, by at most the poll interval.
- ``takeover``: kill -9 of the active aggregator of partition 0 with a hot standby running,
  under load: time until the standby holds the lease, and until the store's totals include
  every share acknowledged before the kill.

Also the load generator (``python -m bench.cluster load ...``, run as a child process).
``python -m bench --only cluster`` runs this step alone; ``python -m bench.cluster quick`` a
small version to try the set-up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from bench.process import machine_cpu_s
from poolstats.domain.partitions import partition_of
from poolstats.ingest.columnar import CONTENT_TYPE, encode_table

ADMIN_URL = os.environ.get("POOLSTATS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
TOKEN = "bench"
MAX_PAYLOAD = 8 * 2**20  # the bus servers' max_payload: a 50k-share partition record is > 1 MiB
STREAM = "POOLSTATS_SHARES"
LEASE_TTL_S = 6.0  # poolstats.cli.cluster.LEASE_TTL_S, for the report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


# -- the parts -------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of database ``template``, a URL), dropped afterwards."""
    name = f"poolstats_bench_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_users(store_url: str, n: int) -> tuple[list[int], float]:
    """``n`` sub-accounts made with the store's own ``create_user``; (puids, seconds)."""
    from poolstats.store import open_store

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(store_url, Path(tmp))
        try:
            puids = [store.create_user(f"bench{i:05d}", int(time.time())).puid for i in range(n)]
        finally:
            store.close()
    return puids, round(time.perf_counter() - started, 1)


class Nats:
    """A nats-server of the bench's own: free ports, JetStream files in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port, self.monitor = free_port(), free_port()
        (folder / "server.conf").write_text(f"max_payload: {MAX_PAYLOAD}\n")
        self.log = open(folder / "server.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [NATS, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor), "-js",
             "-sd", str(folder / "js"), "-c", str(folder / "server.conf")],
            stdout=self.log, stderr=self.log,
        )  # fmt: skip
        wait_for(self._ready, 30, "nats-server")

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("nats-server exited")
        try:
            return httpx.get(f"http://127.0.0.1:{self.monitor}/healthz", timeout=1).is_success
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()
        shutil.rmtree(self.folder / "js", ignore_errors=True)  # the logs stay, not the data


class Proc:
    """A poolstats process, settings given as ``POOLSTATS_*`` variables, output to a log."""

    def __init__(self, folder: Path, name: str, args: list[str], settings: dict[str, Any]):
        self.name = name
        data = folder / name
        data.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **{f"POOLSTATS_{k.upper()}": str(v) for k, v in settings.items()}}
        self.log_path = folder / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "poolstats", *args, "--data-dir", str(data)],
                stdout=log, stderr=log, env=env,
            )  # fmt: skip
        self.pid = self.process.pid

    def cpu_s(self) -> float:
        return _cpu_s(self.pid)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lease_holder_pid(store_url: str, partition: int) -> int | None:
    with psycopg.connect(store_url) as db:
        row = db.execute(
            "SELECT holder FROM leases WHERE name = %s AND expires_at > %s",
            (f"aggregate/{partition}", time.time()),
        ).fetchone()
    return None if row is None else int(str(row[0]).split(":")[1])


def stored_total(store_url: str, puids: list[int] | None = None) -> int:
    """``sum(accept_count)`` of the workers (of those sub-accounts only, when given)."""
    query = "SELECT coalesce(sum(accept_count), 0) FROM workers"
    with psycopg.connect(store_url) as db:
        if puids is None:
            row = db.execute(query).fetchone()
        else:
            row = db.execute(query + " WHERE puid = ANY(%s)", (puids,)).fetchone()
    return int(row[0]) if row else 0


class Cluster:
    """nats-server, one aggregator per partition (and a standby each when asked), gateways."""

    def __init__(self, folder: Path, store_url: str, partitions: int, gateways: int,
                 flush_interval_s: float, standby: bool = False) -> None:  # fmt: skip
        self.folder = folder
        self.store_url = store_url
        self.partitions = partitions
        self.nats = Nats(folder / "nats")
        self.settings = {
            "bus_url": self.nats.url, "store_url": store_url, "partitions": partitions,
            "flush_interval_s": flush_interval_s, "ingest_token": TOKEN,
        }  # fmt: skip
        self.procs: list[Proc] = []
        self.aggregators: dict[int, list[Proc]] = {}
        self.gateways: list[Proc] = []
        self.urls: list[str] = []
        try:
            for k in range(partitions):
                agg = self._start(f"agg{k}a", ["aggregate", "--partition", str(k)])
                self.aggregators[k] = [agg]
            for k in range(partitions):
                wait_for(lambda k=k: lease_holder_pid(store_url, k), 60, f"lease {k}", 0.1)
            if standby:
                for k in range(partitions):
                    self.aggregators[k].append(
                        self._start(f"agg{k}b", ["aggregate", "--partition", str(k)])
                    )
            for g in range(gateways):
                port = free_port()
                self.gateways.append(self._start(f"gw{g}", ["gateway", "--port", str(port)]))
                self.urls.append(f"http://127.0.0.1:{port}")
            for url in self.urls:
                wait_for(lambda url=url: _answers(url), 60, "a gateway", 0.1)
        except BaseException:
            self.close()
            raise

    def _start(self, name: str, args: list[str]) -> Proc:
        proc = Proc(self.folder, name, args, self.settings)
        self.procs.append(proc)
        return proc

    def active(self, partition: int) -> Proc | None:
        pid = lease_holder_pid(self.store_url, partition)
        return next((p for p in self.aggregators[partition] if p.pid == pid), None)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each poolstats process and of the nats-server."""
        return {**{p.name: p.cpu_s() for p in self.procs}, "nats": _cpu_s(self.nats.process.pid)}

    def log_lines(self, text: str) -> int:
        """How many lines of the aggregators' logs contain ``text``."""
        return sum(
            line.count(text)
            for procs in self.aggregators.values()
            for p in procs
            for line in p.log_path.read_text(errors="replace").splitlines()
        )

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()
            shutil.rmtree(self.folder / proc.name, ignore_errors=True)  # checkpoints; logs stay
        self.nats.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# -- the load generator (a process of its own) ------------------------------------------------


def build_bodies(puids: list[int], workers_per_puid: int, shares: int, count: int,
                 partitions: int, seed: int,
                 cover: bool = False) -> tuple[list[bytes], list[list[int]]]:  # fmt: skip
    """``count`` columnar bodies of ``shares`` shares each over ``len(puids) *
    workers_per_puid`` workers (a producer's worker table: names with their puids), drawn at
    random, or with ``cover`` each worker once in turn; and per body, its shares per
    partition."""
    rng = np.random.default_rng(seed)
    puid_arr = np.array(puids, np.int64)
    part_of = np.array([partition_of(p, partitions) for p in puids], np.int64)
    n_workers = len(puids) * workers_per_puid
    bodies, per_partition = [], []
    now = time.time()
    for j in range(count):
        if cover:  # body j: the next ``shares`` workers, so that the bodies take turns
            worker = (np.arange(shares) + j * shares) % n_workers
        else:
            worker = rng.integers(0, n_workers, shares)
        used, idx = np.unique(worker, return_inverse=True)
        owner = used // workers_per_puid
        bodies.append(encode_table(
            np.full(shares, now), np.full(shares, 65536.0), np.zeros(shares, np.uint8), idx,
            [f"rig{int(w) % workers_per_puid:03d}" for w in used], worker_puid=puid_arr[owner],
        ))  # fmt: skip
        counts = np.bincount(part_of[worker // workers_per_puid], minlength=partitions)
        per_partition.append([int(c) for c in counts])
    return bodies, per_partition


def load(spec: dict[str, Any]) -> dict[str, Any]:
    """Post the bodies over ``connections`` connections (spread over the gateways) for
    ``seconds``, each request with a key of its own; every answer must be a 200 that
    accepted every share. Returns totals and each request's (key, acknowledged at, body)."""
    bodies, per_partition = build_bodies(
        spec["puids"], spec["workers_per_puid"], spec["shares"], spec["bodies"],
        spec["partitions"], spec.get("seed", 1), spec.get("cover", False),
    )  # fmt: skip
    built = resource.getrusage(resource.RUSAGE_SELF)
    build_cpu_s = built.ru_utime + built.ru_stime
    urls, connections = spec["urls"], spec["connections"]
    rate = spec.get("requests_per_s")  # None: as fast as the gateways answer
    log: list[tuple[str, float, int]] = []
    lock = threading.Lock()
    ready = threading.Barrier(connections + 1)
    started = [0.0]

    def worker(c: int) -> int:
        accepted = 0
        url = urls[c % len(urls)] + "/ingest/shares"
        with httpx.Client(timeout=120) as client:
            ready.wait()
            time.sleep(max(0.0, started[0] - time.time()))
            i = 0
            while True:
                if rate:  # open loop per connection: request i due at start + i / (rate / c)
                    due = started[0] + (i * connections + c) / rate
                    if due > started[0] + spec["seconds"]:
                        break
                    time.sleep(max(0.0, due - time.time()))
                elif time.time() >= started[0] + spec["seconds"]:
                    break
                b = (i * connections + c) % len(bodies)
                key = f"{spec.get('tag', 'r')}{c}-{i}"
                headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": CONTENT_TYPE,
                           "Idempotency-Key": key}  # fmt: skip
                answer = client.post(url, content=bodies[b], headers=headers)
                acked = time.time()
                if answer.status_code != 200 or answer.json()["accepted"] != spec["shares"]:
                    raise RuntimeError(f"{answer.status_code}: {answer.text[:300]}")
                accepted += spec["shares"]
                with lock:
                    log.append((key, acked, b))
                i += 1
        return accepted

    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        futures = [pool.submit(worker, c) for c in range(connections)]
        started[0] = time.time() + 0.05  # set before the workers pass the barrier
        ready.wait()
        accepted = sum(f.result() for f in futures)
    ended = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "accepted": accepted, "started": started[0], "ended": ended, "requests": log,
        "per_partition": per_partition, "body_bytes": len(bodies[0]),
        "cpu_s": usage.ru_utime + usage.ru_stime - build_cpu_s,
    }  # fmt: skip


class Loader:
    """The load generator as a child process: ``start``, then ``result`` once it is done."""

    def __init__(self, spec: dict[str, Any], folder: Path) -> None:
        self.spec_path = folder / f"load-{uuid.uuid4().hex[:6]}.json"
        self.out_path = self.spec_path.with_suffix(".out")
        self.spec_path.write_text(json.dumps(spec))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.cluster", "load", str(self.spec_path),
             str(self.out_path)],
        )  # fmt: skip

    def running(self) -> bool:
        return self.process.poll() is None

    def result(self) -> dict[str, Any]:
        if self.process.wait() != 0:
            raise RuntimeError(f"load generator failed ({self.process.returncode})")
        out: dict[str, Any] = json.loads(self.out_path.read_text())
        return out


# -- the measurements ------------------------------------------------------------------------


def ingest_run(folder: Path, template: str, puids: list[int], partitions: int, gateways: int,
               seconds: float, shares: int, connections: int,
               flush_interval_s: float) -> dict[str, Any]:  # fmt: skip
    """One end-to-end throughput run on a fresh copy of the users' database."""
    with database(template) as url:
        cluster = Cluster(folder, url, partitions, gateways, flush_interval_s)
        try:
            cpu0, machine0 = cluster.cpu(), machine_cpu_s()
            loader = Loader({
                "urls": cluster.urls, "puids": puids, "workers_per_puid": 100,
                "shares": shares, "bodies": 6, "partitions": partitions,
                "connections": connections, "seconds": seconds,
            }, folder)  # fmt: skip
            out = loader.result()
            acked = out["accepted"]
            _settle(url, acked, flush_interval_s)
            caught_up = time.time()
            cpu1, machine1 = cluster.cpu(), machine_cpu_s()
            total = stored_total(url)
            time.sleep(2 * flush_interval_s)  # nothing more may come: counted exactly once
            final = stored_total(url)
            failed = cluster.log_lines("flush failed")
        finally:
            cluster.close()
    elapsed = out["ended"] - out["started"]
    cpu = {k: round(cpu1[k] - cpu0.get(k, 0.0), 1) for k in cpu1}
    cpu["load_generator"] = round(out["cpu_s"], 1)
    return {
        "partitions": partitions, "gateways": gateways, "connections": connections,
        "shares_per_request": shares, "bytes_per_request": out["body_bytes"],
        "seconds": round(elapsed, 1), "flush_interval_s": flush_interval_s, "acknowledged": acked,
        "acknowledged_per_s": round(acked / elapsed),
        "stored_per_s": round(acked / (caught_up - out["started"])),
        "store_caught_up_after_load_s": round(caught_up - out["ended"], 1),
        "stored": final, "exact": total == acked == final,
        "cpu_s": cpu, "machine_cpu_s": round(machine1 - machine0, 1),
        "failed_flushes": failed,
        "wall_s": round(caught_up - out["started"], 1),
    }  # fmt: skip


def _settle(url: str, acked: int, flush_interval_s: float) -> None:
    """Until the store's totals are whole, or they stopped growing for 3 flush intervals (at
    least 30 s): what is missing then is lost, and reported as such."""
    last, since = -1, time.monotonic()
    while (total := stored_total(url)) < acked:
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since > max(30.0, 3 * flush_interval_s):
            return
        time.sleep(0.1)


def _bus_sequences(nats_url: str) -> dict[str, int]:
    """Every message's ``Nats-Msg-Id`` → stream sequence, read back headers only."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    async def read() -> dict[str, int]:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(STREAM)
            last = info.state.last_seq
            sub = await js.pull_subscribe(
                "poolstats.shares.*", stream=STREAM,
                config=ConsumerConfig(headers_only=True, ack_policy=AckPolicy.NONE,
                                      deliver_policy=DeliverPolicy.ALL),
            )  # fmt: skip
            seqs: dict[str, int] = {}
            seen = 0
            while seen < last:
                for msg in await sub.fetch(1000, timeout=10):
                    seen = max(seen, msg.metadata.sequence.stream)
                    # "<batch id>.<partition>.<record>": a request's partition is committed
                    # once its last record is
                    batch_part = (msg.headers or {})["Nats-Msg-Id"].rsplit(".", 1)[0]
                    seq = msg.metadata.sequence.stream
                    seqs[batch_part] = max(seqs.get(batch_part, 0), seq)
            return seqs
        finally:
            await nc.close()

    return asyncio.run(read())


class SeqPoller:
    """Polls each partition's stored sequence (``meta`` history_seq/K) every ``every`` s."""

    def __init__(self, store_url: str, partitions: int, every: float = 0.05) -> None:
        self.samples: list[tuple[float, list[int]]] = []
        self._stop = threading.Event()
        keys = [f"history_seq/{k}" for k in range(partitions)]

        def poll() -> None:
            with psycopg.connect(store_url, autocommit=True) as db:
                while not self._stop.is_set():
                    rows = dict(db.execute(
                        "SELECT key, value FROM meta WHERE key = ANY(%s)", (keys,)
                    ).fetchall())  # fmt: skip
                    self.samples.append((time.time(), [int(rows.get(k, 0)) for k in keys]))
                    self._stop.wait(every)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def committed_at(self, partition: int, seq: int) -> float | None:
        """The first poll that saw partition's stored sequence at or past ``seq``."""
        for t, stored in self.samples:  # few enough: a linear scan per question is fine
            if stored[partition] >= seq:
                return t
        return None


def lag_run(folder: Path, template: str, puids: list[int], partitions: int, gateways: int,
            seconds: float, shares: int, rate_shares_per_s: float,
            flush_interval_s: float) -> dict[str, Any]:  # fmt: skip
    """Every worker of ``puids`` (100 each) sending for ``seconds`` at a steady rate; the lag
    of each request from its acknowledgement to the commit of the flush that holds it."""
    with database(template) as url:
        cluster = Cluster(folder, url, partitions, gateways, flush_interval_s)
        try:
            poller = SeqPoller(url, partitions)
            cpu0, machine0 = cluster.cpu(), machine_cpu_s()
            loader = Loader({
                "urls": cluster.urls, "puids": puids, "workers_per_puid": 100,
                "shares": shares, "bodies": -(-len(puids) * 100 // shares), "cover": True,
                "partitions": partitions, "connections": 4,
                "seconds": seconds, "requests_per_s": rate_shares_per_s / shares, "tag": "L",
            }, folder)  # fmt: skip
            out = loader.result()
            acked = out["accepted"]
            _settle(url, acked, flush_interval_s)
            cpu1, machine1 = cluster.cpu(), machine_cpu_s()
            poller.stop()
            final = stored_total(url)
            history = _count(url, "SELECT coalesce(sum(accept), 0) / 65536 FROM history_subaccount"
                                  " WHERE period_s = 3600")  # fmt: skip
            seqs = _bus_sequences(cluster.nats.url)
            workers = _count(url, "SELECT count(*) FROM workers")
            failed = cluster.log_lines("flush failed")
            taken = cluster.log_lines(": active from seq")
        finally:
            cluster.close()
    lags, never = [], 0
    for key, acked_at, b in out["requests"]:
        commits = []
        for k in range(partitions):
            if out["per_partition"][b][k]:
                commits.append(poller.committed_at(k, seqs[f"{key}.{k}"]))
        if None in commits:
            never += 1  # a partition never stored it while the bench watched
        else:
            lags.append(max(c for c in commits if c is not None) - acked_at)
    elapsed = out["ended"] - out["started"]
    lag = np.array(lags or [float("nan")])
    stored_seq = poller.samples[-1][1] if poller.samples else []
    return {
        "partitions": partitions, "gateways": gateways, "subaccounts": len(puids),
        "workers": workers, "seconds": round(elapsed, 1), "shares_per_request": shares,
        "offered_shares_per_s": rate_shares_per_s, "acknowledged": acked,
        "acknowledged_per_s": round(acked / elapsed), "stored": final, "exact": final == acked,
        "history_shares": history, "flush_interval_s": flush_interval_s, "requests": len(lags),
        "never_committed_requests": never, "stored_seq_at_end": stored_seq,
        "stream_last_seq": max(seqs.values(), default=0),
        "lag_p50_s": round(float(np.percentile(lag, 50)), 2),
        "lag_p99_s": round(float(np.percentile(lag, 99)), 2),
        "lag_max_s": round(float(lag.max()), 2),
        "flush_s": _flush_times(poller.samples),
        "cpu_s": {k: round(cpu1[k] - cpu0.get(k, 0.0), 1) for k in cpu1},
        "machine_cpu_s": round(machine1 - machine0, 1),
        "wall_s": round(time.time() - out["started"], 1),
        "failed_flushes": failed, "activations": taken,
    }  # fmt: skip


def _flush_times(samples: list[tuple[float, list[int]]]) -> dict[str, float]:
    """From the polls: the gaps between a partition's successive stored-sequence changes
    (one flush interval plus that flush's own time), p50 and max over partitions."""
    gaps: list[float] = []
    for k in range(len(samples[0][1]) if samples else 0):
        changes = [t for (t, s), (_, prev) in zip(samples[1:], samples, strict=False)
                   if s[k] != prev[k]]  # fmt: skip
        gaps += [b - a for a, b in itertools.pairwise(changes)]
    if not gaps:
        return {}
    return {"between_commits_p50_s": round(statistics.median(gaps), 2),
            "between_commits_max_s": round(max(gaps), 2)}  # fmt: skip


def _count(url: str, query: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute(query).fetchone()
    return int(row[0]) if row else 0


def takeover_run(folder: Path, template: str, puids: list[int], flush_interval_s: float,
                 rate_shares_per_s: float) -> dict[str, Any]:  # fmt: skip
    """2 partitions, a standby for each; under steady load, kill -9 partition 0's active."""
    partitions, shares = 2, 20_000
    with database(template) as url:
        cluster = Cluster(folder, url, partitions, 1, flush_interval_s, standby=True)
        try:
            loader = Loader({
                "urls": cluster.urls, "puids": puids, "workers_per_puid": 100,
                "shares": shares, "bodies": 6, "partitions": partitions, "connections": 2,
                "seconds": 12.0, "requests_per_s": rate_shares_per_s / shares, "tag": "T",
            }, folder)  # fmt: skip
            wait_for(lambda: stored_total(url) > 0, 60, "the first flush", 0.1)
            time.sleep(3.0)  # the load runs a while (and flushes happen) before the kill
            victim = cluster.active(0)
            assert victim is not None and loader.running()
            survivor = next(p for p in cluster.aggregators[0] if p is not victim)
            victim.kill()
            killed = time.time()
            wait_for(lambda: lease_holder_pid(url, 0) == survivor.pid, 60, "take-over", 0.05)
            lease_s = time.time() - killed
            # Partition 0's stored totals until they hold everything acknowledged.
            part0 = [p for p in puids if partition_of(p, partitions) == 0]
            totals: list[tuple[float, int]] = []
            while True:
                totals.append((time.time(), stored_total(url, part0)))
                if not loader.running():
                    out = loader.result()
                    acked0 = sum(out["per_partition"][b][0] for _, _, b in out["requests"])
                    if totals[-1][1] >= acked0 or time.time() - killed > 120:
                        break
                time.sleep(0.1)
            before = sum(out["per_partition"][b][0] for _, t, b in out["requests"] if t <= killed)
            acked = out["accepted"]
            whole_s = next(t for t, n in totals if n >= before) - killed
            all_s = totals[-1][0] - killed
            _settle(url, acked, flush_interval_s)
            final = stored_total(url)
        finally:
            cluster.close()
    return {
        "flush_interval_s": flush_interval_s, "lease_ttl_s": LEASE_TTL_S,
        "acknowledged": acked, "partition0_acknowledged_before_kill": before,
        "stored": final, "exact": final == acked,
        "lease_taken_s": round(lease_s, 2), "store_whole_again_s": round(whole_s, 2),
        "partition0_all_stored_after_kill_s": round(all_s, 2),
    }  # fmt: skip


def run(quick: bool = False) -> dict[str, Any]:
    from bench import store_pg

    results: dict[str, Any] = {}
    big = 1_000 if quick else 10_000
    results["pg_flush"] = store_pg.flushes(100_000)  # one writer, no other load
    print(json.dumps(results["pg_flush"]), file=sys.stderr, flush=True)
    folder = Path(tempfile.mkdtemp(prefix="poolstats-bench-cluster-"))
    print(f"logs in {folder}", file=sys.stderr, flush=True)
    with database() as template:
        puids, made_s = make_users(template, big)
        results["users"] = {"subaccounts": big, "create_s": made_s}
        results["ingest"] = []
        seconds = 5.0 if quick else 20.0
        shares = 50_000
        for partitions, gateways in ((1, 1), (2, 1), (2, 2), (4, 1), (4, 2)):
            if quick and partitions == 4:
                continue
            r = ingest_run(folder / f"i{partitions}{gateways}", template, puids[:1000],
                           partitions, gateways, seconds, shares, 4, 10.0)  # fmt: skip
            print(json.dumps(r), file=sys.stderr, flush=True)
            results["ingest"].append(r)
        results["lag"] = lag_run(
            folder / "lag", template, puids, 2, 2 if not quick else 1,
            20.0 if quick else 60.0, 50_000, 100_000, 10.0,
        )  # fmt: skip
        print(json.dumps(results["lag"]), file=sys.stderr, flush=True)
        results["takeover"] = []
        for i in range(1 if quick else 3):
            r = takeover_run(folder / f"t{i}", template, puids[:1000], 2.0, 100_000)
            print(json.dumps(r), file=sys.stderr, flush=True)
            results["takeover"].append(r)
    return results


def rerun_lag() -> None:
    """Measure the store lag again and put it into BENCHMARKS.md's cluster figures."""
    from bench.__main__ import ROOT, _raw, report

    raw = _raw()
    folder = Path(tempfile.mkdtemp(prefix="poolstats-bench-cluster-"))
    print(f"logs in {folder}", file=sys.stderr, flush=True)
    with database() as template:
        puids, _ = make_users(template, 10_000)
        raw["cluster"]["lag"] = lag_run(folder / "lag", template, puids, 2, 2, 60.0, 50_000,
                                        100_000, 10.0)  # fmt: skip
    print(json.dumps(raw["cluster"]["lag"]), file=sys.stderr, flush=True)
    (ROOT / "BENCHMARKS.md").write_text(report(raw))


if __name__ == "__main__":
    if sys.argv[1:2] == ["lag"]:
        rerun_lag()
    elif sys.argv[1:2] == ["load"]:
        spec = json.loads(Path(sys.argv[2]).read_text())
        Path(sys.argv[3]).write_text(json.dumps(load(spec)))
    else:
        print(json.dumps(run(quick=sys.argv[1:2] == ["quick"]), indent=2))
