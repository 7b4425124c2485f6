"""docs/api.md's table of every published endpoint stays true: each endpoint it calls served
is a route of the app, and each test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.api.conftest import Node

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Every published endpoint"
ENDPOINT = re.compile(r"`(GET|POST) (/[^`\s]*)`")
REFERENCE = re.compile(r"`(test_\w+)?(?:::(test_\w+))?`")


def rows() -> list[tuple[str, list[str], str, str]]:
    """(dialect prefix, cells, served, tests) of each table row of the section."""
    text = (ROOT / "docs" / "api.md").read_text()
    found, prefix = [], "/v1"
    for line in text[text.index(SECTION) :].splitlines():
        if line.startswith("Tangpool"):
            prefix = "/public"
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        header = cells[0] == "document" or set(cells[0]) <= {"-"}
        if line.startswith("| ") and len(cells) == 4 and not header:
            found.append((prefix, cells, cells[2], cells[3]))
    return found


def served_paths(node: Node) -> set[tuple[str, str]]:
    """(METHOD, path with ``{}`` for its parameters, no trailing slash) of every operation
    in the app's OpenAPI document."""
    shape = re.compile(r"{\w+}")
    document = node.client.get("/openapi.json").json()
    return {
        (method.upper(), shape.sub("{}", path.rstrip("/")))
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_every_endpoint_called_served_is_a_route_of_the_app(node: Node) -> None:
    served = served_paths(node)
    shape = re.compile(r"{\w+}")
    checked = 0
    for prefix, cells, verdict, _ in rows():
        if not verdict.startswith("yes"):
            continue
        for method, path in ENDPOINT.findall(cells[1]):
            if prefix == "/public" or not path.startswith("/public/"):
                path = path if path.startswith(prefix + "/") else prefix + path
            key = (method, shape.sub("{}", path.rstrip("/")))
            assert key in served, (
                f"docs/api.md calls {method} {path} served; the app has no such route"
            )
            checked += 1
    assert checked >= 50  # the table is there and read


def test_every_test_the_table_names_exists() -> None:
    named = 0
    previous: list[str] = []
    for _, cells, verdict, tests in rows():
        if tests == "same":
            assert previous, cells
            continue
        refs, module = [], None
        for mod, name in REFERENCE.findall(tests):
            module = mod or module
            assert module, f"{tests}: a test named without its module"
            source = ROOT / "tests" / "api" / f"{module}.py"
            assert source.is_file(), f"docs/api.md names {module}, not a test module"
            if name:
                assert f"def {name}(" in source.read_text(), f"{module}::{name} does not exist"
            refs.append(f"{module}::{name}")
        if verdict.startswith("yes"):
            assert refs, f"{cells[1]} is served without a test named"
        named += len(refs)
        previous = refs or previous
    assert named >= 50
