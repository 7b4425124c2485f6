"""The dependency lock: every requirement of pyproject.toml is pinned there within its range,
and the environment the tests run in is the locked one (so a fresh clone runs what CI ran)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def _locked() -> dict[str, str]:
    """name -> version of the pins that apply to this interpreter and platform."""
    pins: dict[str, str] = {}
    env = default_environment()
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = _PIN.match(line)
        if match is None:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker).evaluate(env):
            continue
        pins[canonicalize_name(name)] = version
    return pins


def _required() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    texts = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["test"],
        *project["build-system"]["requires"],
    ]
    return [Requirement(t) for t in texts]


def test_every_requirement_is_pinned_within_its_range() -> None:
    pins = _locked()
    env = default_environment()
    for requirement in _required():
        if requirement.marker is not None and not requirement.marker.evaluate(env):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement}: run make lock"
        )


def test_the_environment_is_the_locked_one() -> None:
    pins = _locked()
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) in pins
    }
    differing = {n: (v, installed.get(n)) for n, v in pins.items() if installed.get(n) != v}
    assert not differing, f"installed differs from the lock (locked, installed): {differing}"
