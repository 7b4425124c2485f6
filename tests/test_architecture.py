"""The pure layers stay pure: domain/ and engine/ import no I/O and never read the time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "poolstats"
FORBIDDEN = {
    "os",
    "io",
    "time",
    "socket",
    "sqlite3",
    "asyncio",
    "subprocess",
    "pathlib",
    "shutil",
    "threading",
    "logging",
    "urllib",
    "http",
    "sqlalchemy",
    "alembic",
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "typer",
    "rich",
    "poolstats.store",
    "poolstats.ingest",
    "poolstats.api",
    "poolstats.service",
    "poolstats.cli",
    "poolstats.clock",
}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "domain").glob("*.py")) + sorted((PACKAGE / "engine").glob("*.py")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_pure_layers_import_no_io(path: Path) -> None:
    bad = {
        name
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"
