"""Demo HTTP apps that stand in for a revision's pods: errors, latency and metrics on demand.

``python -m e2e.demoapp --port P --revision R [--error-rate F] [--latency-ms N]
[--latency-jitter-ms N] [--seed S]`` runs one as a process; ``serve_in_thread``
runs one inside the caller's process (fast tests).
"""

from e2e.demoapp.app import BUCKETS, AppConfig, RunningApp, make_server, serve_in_thread

__all__ = ["BUCKETS", "AppConfig", "RunningApp", "make_server", "serve_in_thread"]
