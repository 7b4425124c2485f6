"""The store under test on each backend: a SQLite file in tmp_path, and a PostgreSQL database
copied per test from a template migrated once per session (``CREATE DATABASE .. TEMPLATE``
takes ~0.1 s where migrating takes a second or more).

Test modules get the ``store`` fixture through their folder's conftest. A test about SQLite
alone (file pragmas, WAL, backups, ``peek_data_id``, SQLite's SQL dialect in raw statements)
is marked ``@pytest.mark.sqlite_only`` and is not collected for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from poolstats.store.postgres import PostgresStore
from poolstats.store.sql import SqlStore
from poolstats.store.sqlite import SqliteStore
from tests.services import fresh_database

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """Name of a database migrated to head, the template of every test's database."""
    for url in fresh_database():
        with PostgresStore.open(url):
            pass
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh database at the newest schema, dropped after the test."""
    yield from fresh_database(pg_template)


def open_backend(request: pytest.FixtureRequest, backend: str, folder: Path) -> SqlStore:
    if backend == "sqlite":
        return SqliteStore.open(folder)
    return PostgresStore.open(request.getfixturevalue("pg_url"))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    with open_backend(request, request.param, tmp_path) as s:
        yield s


def deselect_sqlite_only(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the PostgreSQL variants of tests marked ``sqlite_only``."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("store") if params is not None else None
        if backend == "postgresql" and item.get_closest_marker("sqlite_only"):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
