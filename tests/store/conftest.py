"""The store under test, on SQLite and on PostgreSQL (``tests.store.backends``)."""

from __future__ import annotations

import pytest

from tests.store.backends import deselect_sqlite_only, pg_template, pg_url, store

__all__ = ["pg_template", "pg_url", "store"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_sqlite_only(config, items)
