"""The controller's API clients: the fenced, rate-limited one, the Events' own (fenced,
a limiter of its own) and the Lease's own."""

from __future__ import annotations

import copy

from kubernetes import client

from controller.kube.counting import OnRead, OnWrite, WriteCountingApiClient
from controller.kube.fencing import Fence
from controller.kube.ratelimit import RateLimitedApiClient, RateLimiter
from controller.settings import Settings

__all__ = ["POOL_SPARE", "api_client", "events_client", "lease_client", "pool_size"]

POOL_SPARE = 8
"""Connections kept besides one per worker: the three informers' watches, flag switches
and routers, and room for a watch being reopened."""


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
    pool: int | None = None,
) -> client.ApiClient:
    """The rate-limited, fenced client every read and write but the Lease's and the
    Events' goes through (a copy of ``configuration``, sized by :func:`pool_size` unless
    it allows more, or ``pool`` connections), with a token bucket of its own."""
    configuration = copy.deepcopy(configuration)
    configuration.connection_pool_maxsize = (
        pool
        if pool is not None
        else max(configuration.connection_pool_maxsize, pool_size(settings))
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


def events_client(
    settings: Settings,
    configuration: client.Configuration,
    *,
    fence: Fence,
    agent: str,
    on_write: OnWrite | None = None,
    on_read: OnRead | None = None,
) -> client.ApiClient:
    """The Events' sender's client: fenced like every write, with a token bucket of its
    own of the same size (``--qps``/``--burst``), so an Event never takes a token a
    reconcile's write needs — as controller-runtime's recorder, which builds its own
    client from the manager's config. One connection: one thread sends."""
    return api_client(
        settings,
        configuration,
        fence=fence,
        agent=agent,
        on_write=on_write,
        on_read=on_read,
        pool=1,
    )


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
