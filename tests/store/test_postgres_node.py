"""Real poolstats processes on a PostgreSQL store: ``serve --store-url`` and ``migrate``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from poolstats.store.migration import MIGRATIONS_DIR
from tests.nodes import Node, poolstats, run, shares, wait_for
from tests.services import fresh_database

pytestmark = pytest.mark.slow


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """An empty database: the processes under test make the schema themselves."""
    yield from fresh_database()


def newest_revision() -> str:
    names = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    return names[-1].split("_", 1)[0]


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_serve_on_postgresql_stores_the_shares_and_its_api_answers_them(
    empty_pg: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    made = run("user", "create", "alice", "--store-url", empty_pg, "--data-dir", str(data))
    assert made.returncode == 0, made.stderr
    key = made.stdout.split('"access_key": "')[1].split('"')[0]
    now = time.time()
    sent = {"rig1": 30, "rig2": 12}  # shares of difficulty 1024 each
    with Node(data, "--store-url", empty_pg) as node:
        for worker, n in sent.items():
            assert node.post(shares(worker, n, now - 5)).status_code == 200

        def listed() -> dict[str, int]:
            answer = httpx.get(
                node.url + "/v1/worker", params={"access_key": key, "puid": 1}, timeout=5
            ).json()
            return {w["worker_name"]: int(w["accept_count"]) for w in answer["data"]["data"]}

        wait_for(lambda: listed() == sent, 60, "the API to list both workers' shares")
        stored = query(empty_pg, "SELECT worker_name, accept_count FROM workers ORDER BY 1")
        assert dict(stored) == sent  # from PostgreSQL, not from the node's memory
        # an hour's shares are in its worker rows while it is open, in history_worker after
        history = query(
            empty_pg,
            "SELECT (SELECT coalesce(sum(accept), 0) FROM history_worker WHERE period_s = 3600)"
            " + (SELECT sum(hour_accept) FROM workers)",
        )
        assert history == [(1024.0 * sum(sent.values()),)]
    assert not (data / "poolstats.sqlite3").exists()  # the folder holds journal and id only
    assert (data / "poolstats.id").read_text().strip() == query(
        empty_pg, "SELECT value FROM meta WHERE key = 'data_id'"
    )[0][0]


def test_migrate_brings_an_empty_database_to_head_and_says_so(
    empty_pg: str, tmp_path: Path
) -> None:
    first = run("migrate", "--store-url", empty_pg, "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == newest_revision()
    assert query(empty_pg, "SELECT version_num FROM alembic_version") == [(newest_revision(),)]
    again = run("migrate", "--store-url", empty_pg, "--data-dir", str(tmp_path))
    assert (again.returncode, again.stdout.strip()) == (0, newest_revision())


def test_concurrent_migrations_of_one_database_apply_once(empty_pg: str, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            poolstats("migrate", "--store-url", empty_pg, "--data-dir", str(tmp_path)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    assert {out.strip() for out, _ in outs} == {newest_revision()}
    assert query(empty_pg, "SELECT version_num FROM alembic_version") == [(newest_revision(),)]
    # one data id, made once: a second migration run would have kept it, not made another
    assert len(query(empty_pg, "SELECT value FROM meta WHERE key = 'data_id'")) == 1


def test_migrate_on_sqlite_creates_the_database_in_the_data_folder(tmp_path: Path) -> None:
    out = run("migrate", "--data-dir", str(tmp_path))
    assert (out.returncode, out.stdout.strip()) == (0, newest_revision()), out.stderr
    assert (tmp_path / "poolstats.sqlite3").is_file()


def test_a_store_url_that_is_not_postgresql_is_refused_in_one_line(tmp_path: Path) -> None:
    out = run("migrate", "--store-url", "mysql://x@y/z", "--data-dir", str(tmp_path))
    assert out.returncode == 1
    assert "postgresql://" in out.stderr and "Traceback" not in out.stderr
