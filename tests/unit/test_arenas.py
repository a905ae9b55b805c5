"""``landinggear run`` and ``chatops`` cap glibc's malloc arenas (``controller.arenas``).

Counted for real: a child process starts 16 threads that allocate at once (zlib
compresses with the GIL released, so they contend for malloc), then glibc's
``malloc_stats`` lists the arenas on stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from controller import arenas, logs
from controller.cli import main

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

_PROBE = """
import ctypes, os, sys, threading, zlib
from controller import arenas
if sys.argv[1] == "cap":
    assert arenas.cap(), "glibc refused the cap"
data = os.urandom(1 << 17)
start = threading.Barrier(16)
def churn():
    start.wait()
    for _ in range(5):
        zlib.compress(data, 1)
threads = [threading.Thread(target=churn) for _ in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], env=env, capture_output=True, text=True, check=True
    )
    return len(re.findall(r"^Arena \d+:", done.stderr, re.MULTILINE))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_sixteen_threads_allocating_at_once_share_two_arenas() -> None:
    # Uncapped, the same threads take arenas of their own: the probe tells the two apart.
    assert _arenas("uncapped") > arenas.ARENAS
    assert _arenas("cap") <= arenas.ARENAS


def test_the_operators_malloc_arena_max_wins() -> None:
    # glibc reads MALLOC_ARENA_MAX itself at start-up; the controller leaves it alone.
    assert arenas.cap({"MALLOC_ARENA_MAX": "8"}) is False


@pytest.mark.parametrize("command", ["run", "chatops"])
def test_both_long_running_commands_cap_the_arenas_before_they_start(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each stops at its first setup error (no kubeconfig, no chat network), which
    # comes after the cap: a process that got that far would start its threads next.
    capped: list[bool] = []

    def cap(*args: object, **kwargs: object) -> bool:
        capped.append(True)
        return True

    monkeypatch.setattr(arenas, "cap", cap)
    monkeypatch.setattr(logs, "configure", lambda *args, **kwargs: None)

    assert main([command, "--kubeconfig", str(tmp_path / "missing")]) == 2
    assert capped == [True]
