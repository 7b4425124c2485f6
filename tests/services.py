"""The outside services some tests need: PostgreSQL and NATS with JetStream, and Chromium.

Where to find them: ``POOLSTATS_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and ``POOLSTATS_TEST_NATS`` (default ``nats://127.0.0.1:4222``). A test that needs one skips
with the reason when it is absent, except in CI (``CI=true``), where absence is a failure:
``.ci/run`` starts both, so a missing one there means a broken machine, not a choice.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_URL = os.environ.get("POOLSTATS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("POOLSTATS_TEST_NATS", "nats://127.0.0.1:4222")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.split(",")[0])
    try:
        address = (parts.hostname or "127.0.0.1", parts.port or default_port)
        with socket.create_connection(address, 1):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> None:
    """Skip (or, in CI, fail) the calling test when ``url`` does not answer."""
    if _reachable(url, default_port):
        return
    reason = f"{name} is not reachable at {url} (.ci/run starts it)"
    if in_ci():
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def require_postgres() -> str:
    require("PostgreSQL", PG_URL, 5432)
    return PG_URL


def require_nats() -> str:
    require("NATS", NATS_URL, 4222)
    return NATS_URL


CHROMIUM = os.environ.get("POOLSTATS_TEST_CHROMIUM", "/usr/bin/chromium")


def require_chromium() -> str:
    """Debian's Chromium (``POOLSTATS_TEST_CHROMIUM``), for Playwright: skip without it, or in
    CI fail (``.ci/run`` installs it)."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"Chromium is not at {CHROMIUM} (.ci/run installs it: apt-get install chromium)"
    if in_ci():
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead of its own."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def fresh_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database for one test, dropped afterwards (a fixture's body): empty,
    or a copy of database ``template`` (which must have no open connections)."""
    import psycopg

    admin = require_postgres()
    name = f"poolstats_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
