"""Fixtures shared by test modules in more than one folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nodes import create_user


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder (``poolstats init``) with one sub-account, alice, as puid 1."""
    path = tmp_path / "data"
    assert create_user(path)["puid"] == 1
    return path
