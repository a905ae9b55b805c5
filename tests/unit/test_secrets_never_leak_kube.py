"""The controller's own API credentials never show up in what it or the CLI prints.

``landinggear run`` (with and without leader election) and the CLI's verbs are
pointed by a kubeconfig holding a canary bearer token at a loopback backend that
fails every request and echoes the request's ``Authorization`` header back (as a
naive proxy in front of an API server might; :mod:`tests.support.echoing`).
Everything they print, at ``--log-level=debug``, is searched for the token.
With leader election the controller must also stop at once: the API server does
not accept its credentials.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.manager import EXIT_LEASE_UNUSABLE
from tests.support.echoing import EchoingBackend
from tests.support.kubeconfigs import token_kubeconfig

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
TOKEN = "canary-kube-token-77ab10"


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    backend = EchoingBackend()
    path = token_kubeconfig(tmp_path / "kubeconfig", server=backend.url, token=TOKEN,
                            namespace="shop")  # fmt: skip
    yield path
    backend.stop()


def landinggear(kubeconfig: Path, *args: str, seconds: float = 10) -> tuple[int | None, str]:
    """Run a command for at most ``seconds`` (then SIGTERM); its exit code (None when it
    was still running) and everything it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", *args, f"--kubeconfig={kubeconfig}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=seconds)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        return None, out


def test_the_controller_stops_at_once_when_its_credentials_are_rejected(
    kubeconfig: Path,
) -> None:
    code, out = landinggear(kubeconfig, "run", "--log-level=debug",
                            "--metrics-address=127.0.0.1:0")  # fmt: skip

    assert code == EXIT_LEASE_UNUSABLE, out
    assert "the API server rejects the controller's credentials (401 Unauthorized" in out
    assert TOKEN not in out


def test_the_controllers_failing_lists_never_log_its_token(kubeconfig: Path) -> None:
    code, out = landinggear(kubeconfig, "run", "--log-level=debug", "--no-leader-elect",
                            "--metrics-address=127.0.0.1:0", seconds=4)  # fmt: skip

    assert code is None, out  # still retrying
    assert out.count("Failed to list or watch") >= 6  # every echoing status, each informer
    assert "Bearer [REDACTED]" in out
    assert TOKEN not in out


@pytest.mark.parametrize(
    "verb",
    [("get", "web"), ("get", "web", "-o", "yaml"), ("rollback", "web"), ("promote", "web"),
     ("abort", "web"), ("history", "web"), ("list",)],
    ids=" ".join,
)  # fmt: skip
def test_the_clis_errors_never_print_the_token(kubeconfig: Path, verb: tuple[str, ...]) -> None:
    for _ in range(3):  # 401, 403, 500 … in turn: each shape of echo
        code, out = landinggear(kubeconfig, *verb)
        assert code == 1, out
        assert out.startswith("error: "), out
        assert TOKEN not in out
