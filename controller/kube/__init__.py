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
from controller.kube.store import Change, Store
from controller.kube.transport import Resource
from controller.kube.workqueue import WorkQueue

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
