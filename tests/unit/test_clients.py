"""The controller's API client keeps a connection per worker and per watch for reuse.

With the client's default pool (5 per CPU, 10 on a 2-core machine), 16 workers
beside three open watches opened a fresh TLS connection for most requests and
discarded it ("Connection pool is full", seen in a 1,000-Rollout benchmark run).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from kubernetes import client

from controller.clients import POOL_SPARE, api_client, lease_client
from controller.kube.fencing import Fence
from controller.kube.lease import KubeLeaseLock
from controller.settings import Settings


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
