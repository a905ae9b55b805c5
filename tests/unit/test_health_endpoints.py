"""``/healthz`` and ``/readyz`` say what is wrong, so a probe restarts or waits for the process.

A real HTTP server on loopback; the health and readiness answers are injected.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from controller.metrics import serve

State = dict[str, object]


@pytest.fixture
def endpoints() -> Iterator[tuple[str, State]]:
    state: State = {"problems": [], "ready": False}
    server = serve(
        "127.0.0.1:0",
        registry=CollectorRegistry(),
        ready=lambda: bool(state["ready"]),
        healthy=lambda: list(state["problems"]),  # type: ignore[call-overload]
    )
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}", state
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode()


def test_healthz_fails_with_the_problems_and_recovers_when_they_are_gone(
    endpoints: tuple[str, State],
) -> None:
    url, state = endpoints
    assert get(f"{url}/healthz") == (200, "ok\n")
    state["problems"] = ["informer rollouts is not running", "worker-1 stuck for 301s"]
    assert get(f"{url}/healthz") == (
        503,
        "informer rollouts is not running\nworker-1 stuck for 301s\n",
    )
    state["problems"] = []
    assert get(f"{url}/healthz") == (200, "ok\n")


def test_readyz_waits_for_the_caches(endpoints: tuple[str, State]) -> None:
    url, state = endpoints
    assert get(f"{url}/readyz")[0] == 503
    state["ready"] = True
    assert get(f"{url}/readyz") == (200, "ok\n")
