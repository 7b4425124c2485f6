"""Every method of every store port is called by that port's contract tests.

A port method no contract test calls could differ between backends unnoticed; this fails
as soon as a method is added to a port (or a port to ``store.ports``) without one. A port's
contract tests are the modules ``test_<port>_port*.py`` beside this one.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from poolstats.store import ports

HERE = Path(__file__).parent


def port_classes() -> dict[str, type]:
    """Every port ``store.ports`` exports, by its contract modules' prefix
    (``AccountsPort`` -> ``accounts``, ``UnitOfWork`` -> ``unit_of_work``)."""
    found = {}
    for name in ports.__all__:
        obj = getattr(ports, name)
        if inspect.isclass(obj) and getattr(obj, "_is_protocol", False):
            words = re.findall(r"[A-Z][a-z]*", name.removesuffix("Port"))
            found["_".join(w.lower() for w in words)] = obj
    return found


def methods(port: type) -> set[str]:
    """The port's own public methods (not those of ``Protocol`` or ``object``)."""
    return {n for n, v in vars(port).items() if callable(v) and not n.startswith("_")}


def called(prefix: str) -> set[str]:
    """Attribute names the port's contract modules use (``store.create_user(...)``)."""
    names: set[str] = set()
    for path in sorted(HERE.glob(f"test_{prefix}_port*.py")):
        names |= {
            node.attr for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute)
        }  # fmt: skip
    return names


def test_every_port_of_the_store_is_found() -> None:
    assert set(port_classes()) == {
        "accounts", "alerts", "blocks", "groups", "ledger", "network", "stats", "subaccounts",
        "unit_of_work", "watchers",
    }  # fmt: skip


@pytest.mark.parametrize("prefix", sorted(port_classes()))
def test_every_port_method_has_a_contract_test(prefix: str) -> None:
    port = port_classes()[prefix]
    assert methods(port), f"{port.__name__} has no methods"
    missing = methods(port) - called(prefix)
    assert not missing, f"no test_{prefix}_port*.py calls {port.__name__}.{sorted(missing)}"
