"""scripts/system-deps: installs the missing Debian packages as root with apt-get,
otherwise stops at once with the exact command; checks Node.js >= 20 with npm and
never installs Debian's too old one (run against a PATH of fakes)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "system-deps"
TOOLS = (
    "make",
    "prometheus",
    "ip",
    "iptables-restore",
    "mmdebstrap",
    "buildah",
    "podman",
    "runc",
)
IMAGE_TOOLS = TOOLS[4:]


@dataclass
class Machine:
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def apt_log(self) -> Path:
        return self.root / "apt-get.log"

    def has(self, *tools: str) -> None:
        self.bin.mkdir(parents=True, exist_ok=True)
        for tool in tools:
            fake = self.bin / tool
            fake.write_text(f'#!/bin/sh\necho "$*" >> "{self.apt_log}"\n')
            fake.chmod(0o755)

    def has_node(self, version: str = "v20.19.2", *, npm: bool = True) -> None:
        self.bin.mkdir(parents=True, exist_ok=True)
        node = self.bin / "node"
        node.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo {version}\n')
        node.chmod(0o755)
        if npm:
            self.has("npm")

    def has_postgres(self) -> None:
        postgres = self.root / "postgresql" / "17" / "bin" / "postgres"
        postgres.parent.mkdir(parents=True)
        postgres.write_text("")

    def run(self, *, euid: int) -> subprocess.CompletedProcess[str]:
        self.bin.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": str(self.bin),
            "LANDINGGEAR_EUID": str(euid),
            "LANDINGGEAR_POSTGRES_LIB": str(self.root / "postgresql"),
        }
        return subprocess.run(
            ["/bin/bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
        )

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text().splitlines() if self.apt_log.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


@pytest.fixture(autouse=True)
def _node(machine: Machine) -> None:
    machine.has_node()


def test_nothing_is_done_or_said_when_everything_is_there(machine: Machine) -> None:
    machine.has(*TOOLS)
    machine.has_postgres()
    done = machine.run(euid=1000)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_root_with_apt_get_installs_exactly_the_missing_packages(machine: Machine) -> None:
    machine.has("make", "ip", "apt-get", "buildah")
    done = machine.run(euid=0)
    assert done.returncode == 0, done.stderr
    assert machine.apt_calls() == [
        "update -qq",
        "install -y -qq --no-install-recommends"
        " prometheus postgresql iptables mmdebstrap podman runc",
    ]


def test_without_root_it_stops_at_once_with_the_exact_command(machine: Machine) -> None:
    machine.has("make", "prometheus", "ip", "iptables-restore", "apt-get", *IMAGE_TOOLS)
    done = machine.run(euid=1000)
    assert done.returncode == 1
    assert machine.apt_calls() == []
    assert (
        "sudo apt-get update && sudo apt-get install -y --no-install-recommends postgresql"
        in done.stderr
    )


def test_without_apt_get_it_names_the_packages_and_stops(machine: Machine) -> None:
    machine.has("prometheus", "ip", "iptables-restore", *IMAGE_TOOLS)
    machine.has_postgres()
    done = machine.run(euid=0)
    assert done.returncode == 1
    assert "Missing system packages (Debian names): make." in done.stderr
    assert "no apt-get" in done.stderr


def test_a_failed_install_fails_the_script(machine: Machine) -> None:
    machine.has(*TOOLS)
    (machine.bin / "apt-get").write_text("#!/bin/sh\nexit 100\n")
    (machine.bin / "apt-get").chmod(0o755)
    done = machine.run(euid=0)
    assert done.returncode != 0


def test_the_makefile_and_ci_both_run_it() -> None:
    repo = SCRIPT.parents[1]
    makefile = (repo / "Makefile").read_text()
    assert "setup: deps $(STAMP)" in makefile
    assert "\t@scripts/system-deps\n" in makefile
    assert "\nscripts/system-deps\n" in (repo / ".ci" / "run").read_text()


NODESOURCE = "curl -fsSL https://deb.nodesource.com/setup_20.x | sudo bash -"


@pytest.mark.parametrize(
    ("version", "npm", "problem"),
    [
        ("v18.20.4", True, "Node.js 18.20.4 is too old"),
        ("v20.19.2", False, "Node.js 20.19.2 has no npm"),
        ("", True, "node --version answered ''"),
    ],
)
def test_node_older_than_20_or_without_npm_stops_with_how_to_install_20(
    machine: Machine, version: str, npm: bool, problem: str
) -> None:
    machine.has(*TOOLS, "apt-get")
    machine.has_postgres()
    (machine.bin / "npm").unlink()
    machine.has_node(version, npm=npm)

    done = machine.run(euid=0)

    assert done.returncode == 1
    assert f"Node.js >= 20 with npm is required (the real Unleash server): {problem}." in (
        done.stderr
    )
    assert NODESOURCE in done.stderr
    assert machine.apt_calls() == []  # Debian's nodejs 18 is never installed


def test_missing_node_is_named_after_the_packages_root_installs(machine: Machine) -> None:
    (machine.bin / "node").unlink()
    machine.has("make", "ip", "apt-get", *IMAGE_TOOLS)

    done = machine.run(euid=0)

    assert done.returncode == 1
    assert machine.apt_calls() == [
        "update -qq",
        "install -y -qq --no-install-recommends prometheus postgresql iptables",
    ]
    assert "Node.js is not installed." in done.stderr
    assert "sudo apt-get install -y nodejs" in done.stderr


def test_without_root_the_packages_and_node_are_both_explained(machine: Machine) -> None:
    machine.has("make", "prometheus", "ip", "iptables-restore", "apt-get", *IMAGE_TOOLS)
    machine.has_node("v16.20.0")

    done = machine.run(euid=1000)

    assert done.returncode == 1
    assert "sudo apt-get install -y --no-install-recommends postgresql" in done.stderr
    assert "Node.js 16.20.0 is too old" in done.stderr
