"""Named Prometheus instances under the harness cache, for ``python -m e2e.prometheus``.

Each instance lives in ``<cache>/prometheus/<name>/`` (``build.cache_root()``, the
same root as the local clusters) and runs detached, so it outlives ``up``; a lock
file serialises ``up`` and ``down`` of one name.
"""

from __future__ import annotations

from pathlib import Path

from e2e.localcluster import build
from e2e.locking import named_lock
from e2e.prometheus.server import Prometheus

__all__ = ["down", "find_by_url", "instances_root", "status", "up", "workdir_for"]


def instances_root() -> Path:
    return build.cache_root() / "prometheus"


def workdir_for(name: str) -> Path:
    return instances_root() / name


def up(name: str = "default", *, scrape_interval: str = "1s") -> Prometheus:
    """Start the named instance (or return the running one) once it is ready."""
    with named_lock(instances_root(), name):
        running = Prometheus.attach(workdir_for(name))
        if running is not None and running.ready():
            return running
        if running is not None:
            running.stop(remove_workdir=True)
        prometheus = Prometheus(workdir_for(name), scrape_interval=scrape_interval)
        prometheus.start(detach=True)
        return prometheus


def down(name: str = "default") -> bool:
    """Stop the named instance and remove its directory; False if it was not running."""
    with named_lock(instances_root(), name):
        running = Prometheus.attach(workdir_for(name))
        if running is None:
            return False
        return running.stop(remove_workdir=True)


def status(name: str = "default") -> tuple[Prometheus | None, bool]:
    """The recorded instance (if any) and whether it answers ``/-/ready``."""
    found = Prometheus.attach(workdir_for(name))
    return found, found is not None and found.ready()


def find_by_url(url: str) -> Prometheus | None:
    """The local instance serving ``url``, so a caller can write its targets files."""
    wanted = url.rstrip("/")
    if not instances_root().is_dir():
        return None
    for workdir in sorted(instances_root().iterdir()):
        found = Prometheus.attach(workdir) if workdir.is_dir() else None
        if found is not None and found.url == wanted:
            return found
    return None
