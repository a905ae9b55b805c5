"""Whether the cluster has settled before the wave: the adopted Deployments' pods
deleted, and the controller manager's work queues drained.

At N = 10,000 on this machine, every Rollout is Healthy long before the cluster is
done with adoption's aftermath. The adopted Deployments, scaled to 0 once our
stable serves, leave 10,000 pods to delete (15 minutes on 2 Dec), and even once
they are gone the controller manager's ``replicaset`` and ``deployment`` queues
still hold thousands of syncs: a canary ReplicaSet created then waits its turn
behind them for its pod (the 2 Dec wave: its canaries' pods available 52 s after
the release, where the cluster alone takes 2 s at N = 100). The wave measures the
controller, so it starts once both are done. Its idle reconciles, before, start
from a controller at rest (:func:`quiet`).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from e2e.localcluster import cluster, pki

__all__ = ["QUEUES", "queue_depths", "queues_of", "quiet", "settled", "settled_after"]

QUEUES = ("deployment", "replicaset")
"""The controller manager's work queues a release's pods pass through."""


def queues_of(text: str, names: Iterable[str] = QUEUES) -> dict[str, float]:
    """``workqueue_depth`` of each of ``names`` in a ``/metrics`` page; a queue the
    page does not carry is missing from the answer (so not taken as empty)."""
    wanted, found = set(names), {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "workqueue_depth" and sample.labels.get("name") in wanted:
                found[sample.labels["name"]] = sample.value
    return found


def queue_depths(state: cluster.State) -> dict[str, float]:
    """The controller manager's :data:`QUEUES` now, from its ``/metrics`` (as the
    admin: its delegated authorization lets ``system:masters`` read them)."""
    certs = Path(state.run_dir) / "pki"
    tls = ssl.create_default_context()
    tls.load_cert_chain(certs / f"{pki.ADMIN.file_stem}.crt", certs / f"{pki.ADMIN.file_stem}.key")
    # Unverified, on loopback only: its serving certificate is the one it generates in
    # memory at start (no --tls-cert-file), which nothing here can check it against.
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    port = state.ports["controller-manager"]
    response = httpx.get(f"https://127.0.0.1:{port}/metrics", verify=tls, timeout=30.0)
    response.raise_for_status()
    return queues_of(response.text)


def settled(pods_behind: int, depths: dict[str, float]) -> bool:
    """No pod to bring up or take down and every one of :data:`QUEUES` read, and empty."""
    return pods_behind == 0 and all(depths.get(name) == 0 for name in QUEUES)


def settled_after(depths: dict[str, float], pods_behind: Callable[[], int]) -> bool:
    """:func:`settled`, counting the pods only once the queues are empty: at 10,000
    listing them takes the bench a third of a core, which the controller manager
    draining its queues on this 2-core machine would rather have."""
    return settled(0, depths) and settled(pods_behind(), depths)


def quiet(
    count: Callable[[], float], *, for_s: float, clock: Callable[[], float] = time.monotonic
) -> Callable[[], bool]:
    """A check: ``count()`` has not moved for ``for_s`` seconds (first asked: not yet)."""
    last = [count(), clock()]

    def check() -> bool:
        now = count()
        if now != last[0]:
            last[:] = [now, clock()]
            return False
        return clock() - last[1] >= for_s

    return check
