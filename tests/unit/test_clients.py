"""The controller's API clients: a connection per worker and per watch kept for reuse,
the Events' bucket apart from the reconciles', the Lease's requests bounded.

With the client's default pool (5 per CPU, 10 on a 2-core machine), 16 workers
beside three open watches opened a fresh TLS connection for most requests and
discarded it ("Connection pool is full", seen in a 1,000-Rollout benchmark run).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from kubernetes import client

from controller.clients import POOL_SPARE, api_client, events_client, lease_client
from controller.kube.fencing import Fence
from controller.kube.lease import KubeLeaseLock
from controller.kube.transport import request_json
from controller.settings import Settings
from tests.support.loopback import LoopbackServer


def _pool_maxsize(api: client.ApiClient) -> int:
    return int(api.rest_client.pool_manager.connection_pool_kw["maxsize"])


def test_the_pool_holds_a_connection_per_worker_and_the_watches() -> None:
    for workers in (1, 16, 64):
        configuration = client.Configuration()
        configuration.connection_pool_maxsize = 10  # the default on a 2-core machine
        settings = Settings(workers=workers)
        api = api_client(settings, configuration, fence=Fence(None, margin=1.0), agent="t")
        assert _pool_maxsize(api) == max(10, workers + POOL_SPARE)


def test_a_larger_pool_configured_is_kept() -> None:
    configuration = client.Configuration()
    configuration.connection_pool_maxsize = 200
    api = api_client(Settings(), configuration, fence=Fence(None, margin=1.0), agent="t")
    assert _pool_maxsize(api) == 200


def test_a_lease_request_to_a_silent_server_ends_by_its_timeout() -> None:
    """The election counts on a Lease request given ``timeout`` seconds ending by then;
    urllib3's default would retry the timed-out read three times (4 x the timeout)."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    try:
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        lock = KubeLeaseLock(lease_client(configuration, agent="t"), namespace="ns", name="l")
        started = time.monotonic()
        with pytest.raises(Exception, match=r"(?i)timed? ?out"):
            lock.get(timeout=0.5)
        took = time.monotonic() - started
    finally:
        silent.close()
        for sock in held:
            sock.close()
    assert took < 1.2, took
    assert configuration.retries is None  # the caller's configuration is not changed


class _Created(BaseHTTPRequestHandler):
    """Answers every POST at once with 201 and an empty object."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(LoopbackServer):
    def __init__(self) -> None:
        self._serve(_Created)
        assert self._server is not None
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"


def _post(api: client.ApiClient) -> float:
    started = time.monotonic()
    request_json(api, "POST", "/api/v1/namespaces/ns/configmaps", body={}, timeout=5.0)
    return time.monotonic() - started


def test_events_take_no_token_a_reconcile_needs() -> None:
    """An Event goes through a bucket of its own: with the reconciles' bucket spent, an
    Event leaves at once; the reconciles' next write still waits for its token (the
    same settings, so a shared bucket would have made the Event wait too)."""
    server = _Server()
    try:
        configuration = client.Configuration()
        configuration.host = server.url
        settings = Settings(qps=1.0, burst=1)
        fence = Fence(None, margin=1.0)
        api = api_client(settings, configuration, fence=fence, agent="t")
        events = events_client(settings, configuration, fence=fence, agent="t")
        assert _post(api) < 0.5  # the burst of 1
        assert _post(events) < 0.5  # its own burst of 1
        assert _post(api) > 0.7  # the reconciles' bucket refills at 1/s
        assert _post(events) < 0.5  # refilled meanwhile
        assert _post(events) > 0.7  # and it is a bucket too: 1/s
    finally:
        server.stop()
    assert _pool_maxsize(events) == 1
