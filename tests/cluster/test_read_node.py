"""``poolstats api``'s node in-process: the app on the store alone."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from poolstats.api.app import create_app
from poolstats.cluster.read_node import ReadNode
from poolstats.config import Settings
from poolstats.store import SqliteStore
from poolstats.store.postgres import PostgresStore
from tests.nodes import TOKEN
from tests.services import fresh_database, require_postgres


def test_the_api_node_takes_no_shares_but_still_names_puids(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path) as store:
        store.create_user("alice", int(time.time()))
        node = ReadNode(Settings(ingest_token=TOKEN), store)
        client = TestClient(create_app(node))
        refused = client.post("/ingest/shares", content=b"", headers={"Authorization": "Bearer x"})
        assert refused.status_code == 404
        assert "gateway" in refused.json()["errors"][0]["error"]
        answer = client.get("/ingest/users/alice", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.json() == {"puid": 1}
        health = client.get("/healthz")
        assert health.status_code == 200  # stale (nothing flushed yet) but answering
        assert health.json()["status"] == "degraded"
        assert health.json()["partitions"][0]["stale"] is True


def test_healthz_answers_503_once_the_store_cannot_be_read() -> None:
    admin = require_postgres()
    databases = fresh_database()
    url = next(databases)
    store = PostgresStore.open(url)
    try:
        client = TestClient(create_app(ReadNode(Settings(), store)))
        assert client.get("/healthz").status_code == 200
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # the store goes away
        answer = client.get("/healthz")
        assert answer.status_code == 503
        assert answer.json()["reasons"][0].startswith("store: cannot be read")
    finally:
        store.close()
        for _ in databases:  # drops it if still there
            pass


def test_healthz_names_which_process_counts_each_partition_and_which_answered(
    tmp_path: Path,
) -> None:
    """What the dashboard's pool page shows of a cluster (its table: test_browser)."""
    from poolstats.store import leases

    now = time.time()
    with SqliteStore.open(tmp_path) as store:
        with store.write() as conn:
            assert leases.acquire(conn, "aggregate/1", "host-b:4242:ab12", now, 60.0) == 1
        node = ReadNode(Settings(partitions=2), store)
        body = TestClient(create_app(node)).get("/healthz").json()
        by_partition = {p["partition"]: p for p in body["partitions"]}
        assert by_partition[0]["lease"] is None and by_partition[0]["stale"] is True
        assert by_partition[1]["lease"] == {"holder": "host-b:4242:ab12", "expired": False}
        assert body["served_by"] == f"{socket.gethostname()}:{os.getpid()}"
