"""``poolstats cluster-demo`` (``make cluster-demo``): a whole cluster on one machine.

On the local NATS (JetStream) and PostgreSQL (``make cluster-demo`` starts them when they are
stopped): ``partitions`` partitions with an active aggregator and a hot standby each, a
gateway, two API replicas, the jobs process, and a simulated fleet posting to the gateway.
Every process is a real ``poolstats`` command, started as an operator would start it
(docs/deploy.md); the API's /healthz and the dashboard show which process holds which
partition. Ctrl-C stops them all; the database (``poolstats_demo``) and the stream stay, so
a second run resumes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from poolstats.cli.common import console, fail
from poolstats.cli.demo import check_port

DEMO_DATABASE = "poolstats_demo"
DEMO_TOKEN = "cluster-demo"


def _database(admin_url: str) -> str:
    """``admin_url``'s server with the demo database, created when missing."""
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as db:
            exists = db.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DEMO_DATABASE,)
            ).fetchone()
            if not exists:
                db.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    except psycopg.OperationalError as exc:
        raise fail(ValueError(f"PostgreSQL at {admin_url}: {exc}")) from exc
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{DEMO_DATABASE}"


def cluster_demo(
    port: Annotated[int, typer.Option(help="The first API replica's port (the second: +1)")] = 8080,
    gateway_port: Annotated[int, typer.Option(help="The gateway's port")] = 8090,
    partitions: Annotated[int, typer.Option(help="Partitions of the share bus")] = 2,
    postgres: Annotated[
        str, typer.Option(help="PostgreSQL server (its database is made on it)")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    bus_url: Annotated[str, typer.Option(help="NATS JetStream")] = "nats://127.0.0.1:4222",
    users: Annotated[int, typer.Option(help="Simulated sub-accounts")] = 6,
    workers: Annotated[int, typer.Option(help="Workers per sub-account")] = 40,
) -> None:
    """Run a cluster on the local NATS and PostgreSQL with a simulated fleet."""
    for taken, flag in ((port, "port"), (port + 1, "port"), (gateway_port, "gateway-port")):
        make = f"{flag.upper().replace('-', '_')}={{}} make cluster-demo"
        check_port("127.0.0.1", taken, make, f"poolstats cluster-demo --{flag} {{}}")
    store_url = _database(postgres)
    folder = Path(tempfile.mkdtemp(prefix="poolstats-cluster-demo-"))
    env = {
        **os.environ,
        "POOLSTATS_STORE_URL": store_url,
        "POOLSTATS_BUS_URL": bus_url,
        "POOLSTATS_PARTITIONS": str(partitions),
        "POOLSTATS_INGEST_TOKEN": DEMO_TOKEN,
        "POOLSTATS_FLUSH_INTERVAL_S": "5",
    }
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(name: str, *args: str) -> None:
        data_dir = folder / name
        data_dir.mkdir()
        log = open(folder / f"{name}.log", "ab")  # noqa: SIM115  # closed with the process
        command = [sys.executable, "-m", "poolstats", *args]
        own = {**env, "POOLSTATS_DATA_DIR": str(data_dir)}  # an aggregator's checkpoint
        procs.append((name, subprocess.Popen(command, stdout=log, stderr=log, env=own)))

    names = [f"sim{i:04d}" for i in range(1, users + 1)]
    for name in names:  # made once; a second run finds them
        subprocess.run(
            [sys.executable, "-m", "poolstats", "user", "create", name,
             "--data-dir", str(folder / "admin")],
            env=env, capture_output=True, check=False,
        )  # fmt: skip
    try:
        for k in range(partitions):
            start(f"aggregate-{k}-a", "aggregate", "--partition", str(k))
            start(f"aggregate-{k}-b", "aggregate", "--partition", str(k))
        start("gateway", "gateway", "--port", str(gateway_port))
        start("api-1", "api", "--port", str(port))
        start("api-2", "api", "--port", str(port + 1))
        start("jobs", "jobs")
        time.sleep(3)  # let the gateway bind before the fleet's first post (it retries anyway)
        start("fleet", "simulate", "--url", f"http://127.0.0.1:{gateway_port}",
              "--ingest-token", DEMO_TOKEN, "--users", str(users), "--workers", str(workers),
              "--format", "columnar")  # fmt: skip
        console.print(
            f"cluster: {partitions} partitions (active + standby each) on {bus_url}, "
            f"store {store_url}\n"
            f"  dashboard and API: http://127.0.0.1:{port}/  and  http://127.0.0.1:{port + 1}/\n"
            f"  gateway:           http://127.0.0.1:{gateway_port}/ingest/shares "
            f"(token {DEMO_TOKEN})\n"
            f"  partitions:        http://127.0.0.1:{port}/healthz\n"
            f"  logs:              {folder}/*.log\n"
            "Ctrl-C stops every process."
        )
        stopping: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
        with contextlib.suppress(KeyboardInterrupt):
            while not stopping:
                exited = [n for n, proc in procs if proc.poll() is not None and n != "fleet"]
                if exited:
                    console.print(f"[red]{', '.join(exited)} exited; see {folder}")
                    break
                time.sleep(1)
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            if proc.poll() is None:
                proc.kill()
        console.print(f"stopped; the logs stay in {folder}")
