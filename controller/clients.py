"""The controller's two API clients: the fenced, rate-limited one and the Lease's own."""

from __future__ import annotations

import copy

from kubernetes import client

from controller.kube.counting import OnRead, OnWrite, WriteCountingApiClient
from controller.kube.fencing import Fence
from controller.kube.ratelimit import RateLimitedApiClient, RateLimiter
from controller.settings import Settings

__all__ = ["POOL_SPARE", "api_client", "lease_client", "pool_size"]

POOL_SPARE = 8
"""Connections kept besides one per worker: the three informers' watches, the Events'
sender, flag switches and routers, and room for a watch being reopened."""


def pool_size(settings: Settings) -> int:
    """Connections to the API server a process keeps open for reuse. The client's
    default (5 per CPU) is below ``--workers`` plus the watches on a small machine:
    every request beyond it opened, TLS handshake and all, and then discarded."""
    return settings.workers + POOL_SPARE


def api_client(
    settings: Settings,
    configuration: client.Configuration,
    *,
    fence: Fence,
    agent: str,
    on_write: OnWrite | None = None,
    on_read: OnRead | None = None,
) -> client.ApiClient:
    """The rate-limited, fenced client every read and write but the Lease's goes through
    (a copy of ``configuration``, sized by :func:`pool_size` unless it allows more)."""
    configuration = copy.deepcopy(configuration)
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize, pool_size(settings)
    )
    api = RateLimitedApiClient(
        configuration,
        limiter=RateLimiter(qps=settings.qps, burst=settings.burst),
        fence=fence,
        on_write=on_write,
        on_read=on_read,
    )
    api.user_agent = agent
    return api


def lease_client(
    configuration: client.Configuration,
    *,
    agent: str,
    on_write: OnWrite | None = None,
    on_read: OnRead | None = None,
) -> client.ApiClient:
    """The Lease's own client: no limiter, no retries, never queued behind other requests.

    No retries at the connection level either (urllib3 retries a timed-out read three
    times by default): a Lease request given ``timeout`` seconds must end by then, as
    the election's renew rounds and the shard rounds count on it."""
    configuration = copy.deepcopy(configuration)
    configuration.retries = False
    api = WriteCountingApiClient(configuration, on_write=on_write, on_read=on_read)
    api.user_agent = agent
    return api
