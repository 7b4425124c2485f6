"""The layers stay in order: domain/ and engine/ import no I/O and never read the time, and
no module imports from a layer above its own."""

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
    "urllib.request",  # urllib.parse only splits strings
    "urllib.error",
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


# Each top-level module or package of poolstats, by layer: a module may import from its own
# layer and those below, never from above (domain < engine < ingest/store/bus < service,
# earnings and network jobs < api/web/stratum/alerts/simulate/cluster < the node builder <
# cli). Settings, the clock, the thread bridge and metric declarations are below everything
# that uses them. A new top-level module must be placed here.
LAYERS: dict[str, int] = {
    "domain": 0,
    "clock": 0,
    "config": 1,
    "metrics": 1,
    "threads": 1,
    "engine": 1,
    "ingest": 2,
    "store": 2,
    "bus": 2,
    "earnings": 3,
    "network": 3,
    "service": 3,
    "upkeep": 3,
    "cluster": 4,
    "api": 4,
    "web": 4,
    "stratum": 4,
    "alerts": 4,
    "simulate": 4,
    "node": 5,
    "cli": 6,
    "__main__": 7,
}


def _layer_of(module: str) -> str:
    return module.split(".")[1]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_every_top_level_module_has_a_layer() -> None:
    top = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in _modules()}
    assert top - {"__init__"} == set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_from_a_layer_above_its_own(path: Path) -> None:
    own = LAYERS.get(path.relative_to(PACKAGE).parts[0].removesuffix(".py"))
    if own is None:  # poolstats/__init__.py
        return
    above = {
        name
        for name in imported(path)
        if name.startswith("poolstats.") and LAYERS[_layer_of(name)] > own
    }
    assert not above, f"{path.relative_to(PACKAGE)} imports {sorted(above)} from above its layer"


# The store's backends, and the SQL they share by port: only store/ itself may import them
# (``store.open_store`` picks one; ``store.sql.SqlStore`` is the shared base everyone may name).
BACKENDS = ("poolstats.store.sqlite", "poolstats.store.postgres")
SHARED_SQL = "poolstats.store.sql"


def _imported_modules(path: Path) -> set[str]:
    """``imported`` plus the modules ``from package import module`` names."""
    names = imported(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                folder = PACKAGE.parent.joinpath(*node.module.split("."))
                if (folder / f"{alias.name}.py").exists() or (folder / alias.name).is_dir():
                    names.add(f"{node.module}.{alias.name}")
    return names


def _imports_a_backend(path: Path) -> set[str]:
    """Backend modules (or their submodules) and the shared SQL's per-port modules."""
    return {
        name
        for name in _imported_modules(path)
        if any(name == b or name.startswith(b + ".") for b in BACKENDS)
        or name.startswith(SHARED_SQL + ".")
    }


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if p.relative_to(PACKAGE).parts[0] != "store"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_nothing_outside_the_store_imports_a_backend(path: Path) -> None:
    bad = _imports_a_backend(path)
    assert not bad, f"{path.relative_to(PACKAGE)} imports the store backend {sorted(bad)}"


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "store" / "ports").glob("*.py")), ids=lambda p: p.name
)
def test_the_store_ports_import_no_backend(path: Path) -> None:
    bad = _imports_a_backend(path) | {n for n in imported(path) if n == SHARED_SQL}
    assert not bad, f"store/ports/{path.name} imports {sorted(bad)}"


# The one way into a worker thread is ``poolstats.threads.in_thread`` (its docstring says why).
BRIDGE = PACKAGE / "threads.py"


def direct_thread_calls(source: str, name: str) -> list[str]:
    """Where ``source`` reaches a worker thread other than through the bridge: ``to_thread``
    of asyncio or anyio (imported or referred to), or an executor of the loop."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names if "to_thread" in a.name]
        elif isinstance(node, ast.ImportFrom) and "to_thread" in (node.module or ""):
            found.append(f"{where} from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and any(a.name == "to_thread" for a in node.names):
            found.append(f"{where} from {node.module} import to_thread")
        elif isinstance(node, ast.Attribute) and node.attr in ("to_thread", "run_in_executor"):
            found.append(f"{where} .{node.attr}")
    return found


def test_the_scan_finds_every_direct_way_into_a_thread() -> None:
    source = (
        "import asyncio\nimport anyio.to_thread\nfrom asyncio import to_thread\n"
        "from anyio.to_thread import run_sync\nfrom anyio import to_thread as t\n"
        "async def f(loop):\n    await asyncio.to_thread(print)\n"
        "    await loop.run_in_executor(None, print)\n"
        "    await anyio.to_thread.run_sync(print)\n"
    )
    lines = [int(found.split(":")[1].split()[0]) for found in direct_thread_calls(source, "x")]
    assert sorted(lines) == [2, 3, 4, 5, 7, 8, 9]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_threads_are_reached_only_through_the_bridge(path: Path) -> None:
    if path == BRIDGE:
        return
    found = direct_thread_calls(path.read_text(), str(path.relative_to(PACKAGE)))
    assert not found, f"use poolstats.threads.in_thread instead: {found}"
