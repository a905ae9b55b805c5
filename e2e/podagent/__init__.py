"""The pod agent: real demo apps on pod IPs, so a Service's endpoints answer.

kwok gives pods IPs but runs nothing. The agent (:class:`PodAgent`, or ``python
-m e2e.podagent``) runs on the host, watches pods through the API server, and for
each pod annotated ``landinggear.dev/demo-app: "true"`` (the marker; put it on the
pod template) starts ``e2e.demoapp`` inside the cluster's network namespace,
bound to ``podIP:containerPort``. kwok makes such pods Ready only once the agent
has annotated them ``landinggear.dev/serving: "true"``, which it does once the
app answers (:mod:`e2e.localcluster.stages`). The host reads each app's counts
through a Unix socket (:mod:`e2e.podagent.counts`), never over the pod IP.

``wanted`` is pure (which pods want which app); ``agent`` does the I/O.
"""

from e2e.podagent.agent import AgentEvent, PodAgent
from e2e.podagent.counts import AppCounts, counts_in, read_counts
from e2e.podagent.wanted import PodApp, wanted_apps

__all__ = [
    "AgentEvent",
    "AppCounts",
    "PodAgent",
    "PodApp",
    "counts_in",
    "read_counts",
    "wanted_apps",
]
