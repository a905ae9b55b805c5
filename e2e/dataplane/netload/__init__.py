"""A load generator that runs inside the cluster's network namespace.

The host may not connect to pod IPs or ClusterIPs, so the requests are sent by a
subprocess started in the namespace (``python -m e2e.dataplane.netload``, see
:class:`NetLoadProcess`), paced as :class:`~e2e.dataplane.TrafficGenerator`'s are
(:mod:`e2e.dataplane.pacing`), and counted by which revision and pod answered,
status code, and connection failure (``refused`` means a target had nothing
listening). The host sets rate and targets and reads the counts through a Unix
socket.
"""

from e2e.dataplane.netload.client import NetLoadProcess
from e2e.dataplane.netload.load import NetLoad, error_kind
from e2e.dataplane.netload.targets import loopback_only

__all__ = ["NetLoad", "NetLoadProcess", "error_kind", "loopback_only"]
