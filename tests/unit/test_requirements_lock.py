"""requirements.lock (what the image installs, with hashes) still matches pyproject.toml.

Stale means: a runtime dependency or the build backend missing, pinned outside its
range, or no longer wanted; a locked package nothing needs; a pin without a hash.
Regenerate with ``make lock``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "landing-gear (pyproject.toml)"
BUILD = "landing-gear (pyproject.toml::build-system.requires)"


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: tuple[str, ...]
    via: frozenset[str]


def parse_lock(text: str) -> dict[str, Pin]:
    """The lock's pins by canonical name (pip-compile's line-style annotations)."""
    pins: dict[str, Pin] = {}
    for block in re.split(r"\n(?=\S)", text):
        head = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if head is None:
            continue
        via = re.search(r"# via (.+)", block)
        pins[canonicalize_name(head[1])] = Pin(
            version=Version(head[2]),
            hashes=tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", block)),
            via=frozenset(v.strip() for v in via[1].split(", ")) if via else frozenset(),
        )
    return pins


@pytest.fixture(scope="module")
def lock() -> dict[str, Pin]:
    return parse_lock((ROOT / "requirements.lock").read_text())


@pytest.fixture(scope="module")
def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements(pyproject: dict[str, object], *path: str) -> list[Requirement]:
    node: object = pyproject
    for key in path:
        assert isinstance(node, dict)
        node = node[key]
    assert isinstance(node, list)
    return [Requirement(line) for line in node]


def test_every_runtime_dependency_and_the_build_backend_is_pinned_in_range(
    lock: dict[str, Pin], pyproject: dict[str, object]
) -> None:
    wanted = [
        *((r, PROJECT) for r in requirements(pyproject, "project", "dependencies")),
        *((r, BUILD) for r in requirements(pyproject, "build-system", "requires")),
    ]
    for requirement, source in wanted:
        pin = lock.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"requirements.lock pins {requirement.name}=={pin.version}, outside {requirement}"
        )
        assert source in pin.via, f"{requirement.name} is not locked for {source}"


def test_nothing_is_locked_that_pyproject_no_longer_asks_for(
    lock: dict[str, Pin], pyproject: dict[str, object]
) -> None:
    direct = {canonicalize_name(r.name) for r in requirements(pyproject, "project", "dependencies")}
    backend = {
        canonicalize_name(r.name) for r in requirements(pyproject, "build-system", "requires")
    }
    for name, pin in lock.items():
        assert (PROJECT in pin.via) == (name in direct), f"{name}: run make lock"
        assert (BUILD in pin.via) == (name in backend), f"{name}: run make lock"
        needed_by = {canonicalize_name(v) for v in pin.via - {PROJECT, BUILD}}
        assert pin.via, f"{name} is needed by nothing"
        assert needed_by <= lock.keys(), f"{name} is needed by {needed_by - lock.keys()} only"


def test_every_pin_carries_hashes(lock: dict[str, Pin]) -> None:
    assert lock, "requirements.lock holds no pins"
    for name, pin in lock.items():
        assert pin.hashes, f"{name} has no --hash: pip --require-hashes would refuse the lock"


def test_the_parser_sees_a_stale_lock() -> None:
    text = (
        "httpx==0.20.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
        "    # via landing-gear (pyproject.toml)\n"
        "h11==0.16.0\n    # via httpx\n"
    )
    pins = parse_lock(text)
    assert pins["httpx"].version == Version("0.20.0")
    assert not Requirement("httpx>=0.27").specifier.contains(pins["httpx"].version)
    assert pins["h11"].hashes == ()
    assert pins["h11"].via == {"httpx"}
