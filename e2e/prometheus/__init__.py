"""A real Prometheus as a local loopback process, for the e2e data plane and tests.

``Prometheus(workdir).start()`` runs Debian's ``prometheus`` binary with a
file_sd job whose targets ``set_targets`` rewrites at run time; ``query`` runs
instant PromQL through its HTTP API. With ``kubernetes=KubernetesSD(...)`` it also
scrapes annotated pods, and runs upstream Prometheus built by ``build.ensure()``.
``python -m e2e.prometheus up|down|status`` manages a named, detached instance
under the harness cache; ``build`` builds upstream Prometheus and promtool.
"""

from e2e.prometheus.api import ActiveTarget, PrometheusError, PrometheusNotInstalled, Sample
from e2e.prometheus.config import Target
from e2e.prometheus.server import INSTALL_HINT, Prometheus, find_binary

__all__ = [
    "INSTALL_HINT",
    "ActiveTarget",
    "Prometheus",
    "PrometheusError",
    "PrometheusNotInstalled",
    "Sample",
    "Target",
    "find_binary",
]
