"""The in-namespace load generator, exercised on loopback: counts by who answered,
refused connections, live rate and target changes, and its Unix-socket API."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.dataplane.netload import NetLoad, loopback_only
from e2e.dataplane.netload.control import make_control_server
from e2e.demoapp.app import AppConfig, RunningApp, serve_in_thread
from tests.support.waiting import eventually


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def apps() -> Iterator[list[RunningApp]]:
    running = [
        serve_in_thread(AppConfig(revision="stable", pod="shop/web-a")),
        serve_in_thread(AppConfig(revision="canary", pod="shop/web-b", error_rate=1.0)),
    ]
    yield running
    for app in running:
        app.stop()


def test_answers_are_counted_by_pod_revision_and_code_and_refusals_apart(
    apps: list[RunningApp],
) -> None:
    nothing = f"http://127.0.0.1:{_closed_port()}/"
    load = NetLoad([f"{apps[0].url}/", f"{apps[1].url}/", nothing], rps=150).start()
    try:
        eventually(lambda: load.snapshot()["sent"] >= 30, timeout=10, what="30 requests")
    finally:
        load.stop()
    counts = load.snapshot()
    stable, canary = counts["by_pod"]["shop/web-a"], counts["by_pod"]["shop/web-b"]
    assert (stable["revision"], set(stable["codes"])) == ("stable", {"200"})
    assert (canary["revision"], set(canary["codes"])) == ("canary", {"500"})
    assert counts["refused"] >= 9
    assert counts["sent"] == counts["answered"] + counts["refused"]
    assert {error["url"] for error in counts["recent_errors"]} == {nothing}
    assert (counts["timeouts"], counts["other_errors"]) == (0, 0)


def test_targets_and_rate_change_while_it_runs(apps: list[RunningApp]) -> None:
    load = NetLoad([f"{apps[0].url}/"], rps=100).start()
    try:
        eventually(lambda: load.snapshot()["answered"] >= 5, timeout=10, what="5 answers")
        load.set_targets([f"{apps[1].url}/"])
        load.set_rate(200)
        before = load.snapshot()["by_pod"].get("shop/web-a", {}).get("codes", {}).get("200", 0)
        eventually(
            lambda: "shop/web-b" in load.snapshot()["by_pod"], timeout=10, what="the new target"
        )
        time.sleep(0.2)
        after = load.snapshot()
    finally:
        load.stop()
    # at most the requests in flight at the switch still reached the old target
    assert after["by_pod"]["shop/web-a"]["codes"]["200"] <= before + 2
    assert (after["rps"], after["targets"]) == (200.0, [f"{apps[1].url}/"])


def test_the_control_socket_reads_counts_and_refuses_disallowed_targets(
    apps: list[RunningApp], tmp_path: Path
) -> None:
    load = NetLoad([], rps=50)
    server = make_control_server(load, tmp_path / "control.sock", allowed=loopback_only)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    transport = httpx.HTTPTransport(uds=str(tmp_path / "control.sock"))
    try:
        with httpx.Client(transport=transport) as client:
            assert (
                client.put("http://x/targets", json={"urls": ["http://10.244.0.1/"]}).status_code
                == 403
            )
            assert (
                client.put("http://x/targets", json={"urls": [f"{apps[0].url}/"]}).status_code
                == 200
            )
            assert client.put("http://x/rate", json={"rps": "fast"}).status_code == 400
            assert client.put("http://x/rate", json={"rps": 7}).status_code == 200
            counts = client.get("http://x/counts").json()
    finally:
        server.shutdown()
        server.server_close()
    assert (counts["rps"], counts["targets"], counts["sent"]) == (7.0, [f"{apps[0].url}/"], 0)
    assert not (tmp_path / "control.sock").exists()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/", True),
        ("http://localhost/", True),
        ("http://[::1]:80/", True),
        ("http://10.244.0.3:8080/", False),
        ("http://10.96.0.10/", False),
        ("http://example.com/", False),
        ("unix:///tmp/x", False),
    ],
)
def test_outside_the_namespace_only_loopback_targets_are_allowed(url: str, allowed: bool) -> None:
    assert loopback_only(url) is allowed
