"""The controller's API client keeps a connection per worker and per watch for reuse.

With the client's default pool (5 per CPU, 10 on a 2-core machine), 16 workers
beside three open watches opened a fresh TLS connection for most requests and
discarded it ("Connection pool is full", seen in a 1,000-Rollout benchmark run).
"""

from __future__ import annotations

from kubernetes import client

from controller.clients import POOL_SPARE, api_client
from controller.kube.fencing import Fence
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
