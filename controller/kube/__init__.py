"""The controller's Kubernetes runtime: work queue, rate limits, informers, leader election.

What belongs here is the machinery every controller needs between the
``kubernetes`` client and the reconcile logic, built thread-based because the
client is synchronous: nothing here knows about Rollouts. Objects are plain
dicts decoded with ``json.loads``; the client's generated models are never
built (see :mod:`controller.kube.transport` for why). Time is injectable
throughout.

- :mod:`~controller.kube.workqueue`: deduplicating queue with per-key backoff.
- :mod:`~controller.kube.ratelimit`: token bucket and ``Retry-After`` handling.
- :mod:`~controller.kube.informer` (with :mod:`~controller.kube.listwatch` and
  :mod:`~controller.kube.store`): watched, indexed caches of one resource type.
- :mod:`~controller.kube.leaderelection` (with :mod:`~controller.kube.lease`):
  one active controller per cluster; :mod:`~controller.kube.fencing`: no write
  leaves a process that may no longer lead.
- :mod:`~controller.kube.objects` and :mod:`~controller.kube.transport`: shared
  helpers for dict objects and raw JSON requests; :mod:`~controller.kube.errors`:
  API errors in words (status, reason, message) for every log line;
  :mod:`~controller.kube.kubeconfig`: where to connect, and the home namespace;
  :mod:`~controller.kube.counting`: every write reported as it leaves (metrics).
"""

import typing as _typing

if _typing.TYPE_CHECKING:
    from controller.kube.counting import OnWrite, WriteCountingApiClient
    from controller.kube.errors import ApiError, api_error, describe
    from controller.kube.fencing import Fence, LeadershipLost
    from controller.kube.informer import EventHandler, Handlers, Informer, ResourceExpired
    from controller.kube.kubeconfig import api_configuration, home_namespace
    from controller.kube.leaderelection import ElectionConfig, ElectionOutcome, LeaderElector
    from controller.kube.lease import (
        KubeLeaseLock,
        LeaseConflict,
        LeaseLock,
        LeaseRecord,
        LeaseUnusable,
    )
    from controller.kube.listwatch import KubeListWatch, ListPage, ListWatch, WatchStream
    from controller.kube.objects import KubeObject, ObjectKey, key_of, owner_uids, strip_noise
    from controller.kube.ratelimit import (
        LimitedCaller,
        RateLimitedApiClient,
        RateLimiter,
        RetryPolicy,
        call_with_limits,
        retry_after,
    )
    from controller.kube.resources import Resource
    from controller.kube.store import Change, Store
    from controller.kube.workqueue import WorkQueue

_WHERE = {
    "ApiError": "controller.kube.errors",
    "Change": "controller.kube.store",
    "ElectionConfig": "controller.kube.leaderelection",
    "ElectionOutcome": "controller.kube.leaderelection",
    "EventHandler": "controller.kube.informer",
    "Fence": "controller.kube.fencing",
    "Handlers": "controller.kube.informer",
    "Informer": "controller.kube.informer",
    "KubeLeaseLock": "controller.kube.lease",
    "KubeListWatch": "controller.kube.listwatch",
    "KubeObject": "controller.kube.objects",
    "LeaderElector": "controller.kube.leaderelection",
    "LeadershipLost": "controller.kube.fencing",
    "LeaseConflict": "controller.kube.lease",
    "LeaseLock": "controller.kube.lease",
    "LeaseRecord": "controller.kube.lease",
    "LeaseUnusable": "controller.kube.lease",
    "LimitedCaller": "controller.kube.ratelimit",
    "ListPage": "controller.kube.listwatch",
    "ListWatch": "controller.kube.listwatch",
    "ObjectKey": "controller.kube.objects",
    "OnWrite": "controller.kube.counting",
    "RateLimitedApiClient": "controller.kube.ratelimit",
    "RateLimiter": "controller.kube.ratelimit",
    "Resource": "controller.kube.resources",
    "ResourceExpired": "controller.kube.informer",
    "RetryPolicy": "controller.kube.ratelimit",
    "Store": "controller.kube.store",
    "WatchStream": "controller.kube.listwatch",
    "WorkQueue": "controller.kube.workqueue",
    "WriteCountingApiClient": "controller.kube.counting",
    "api_configuration": "controller.kube.kubeconfig",
    "api_error": "controller.kube.errors",
    "call_with_limits": "controller.kube.ratelimit",
    "describe": "controller.kube.errors",
    "home_namespace": "controller.kube.kubeconfig",
    "key_of": "controller.kube.objects",
    "owner_uids": "controller.kube.objects",
    "retry_after": "controller.kube.ratelimit",
    "strip_noise": "controller.kube.objects",
}
"""Which module holds each public name: imported on first use (PEP 562), so that a
light user of one module (the command line's ``objects`` and ``resources``) does not
import the ``kubernetes`` client with the package."""


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ApiError",
    "Change",
    "ElectionConfig",
    "ElectionOutcome",
    "EventHandler",
    "Fence",
    "Handlers",
    "Informer",
    "KubeLeaseLock",
    "KubeListWatch",
    "KubeObject",
    "LeaderElector",
    "LeadershipLost",
    "LeaseConflict",
    "LeaseLock",
    "LeaseRecord",
    "LeaseUnusable",
    "LimitedCaller",
    "ListPage",
    "ListWatch",
    "ObjectKey",
    "OnWrite",
    "RateLimitedApiClient",
    "RateLimiter",
    "Resource",
    "ResourceExpired",
    "RetryPolicy",
    "Store",
    "WatchStream",
    "WorkQueue",
    "WriteCountingApiClient",
    "api_configuration",
    "api_error",
    "call_with_limits",
    "describe",
    "home_namespace",
    "key_of",
    "owner_uids",
    "retry_after",
    "strip_noise",
]
