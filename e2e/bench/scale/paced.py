"""Releases at a steady pace, the issue's condition for event → action: how long from a
release (the API server receiving the Deployment's new template) to the controller's
first write for it, while ``rate`` releases start per second.

The wave (``e2e.bench.scale.run``) measures a burst of 100 at once, which queues them
behind each other and behind the client-side limiter; this measures the steady case
a team shipping all day makes. Each release patches one Deployment's image at its
time slot (``i / rate`` seconds after the first), from one thread, so the pace is
kept however long a patch takes; latencies come from the API server's audit log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient

from e2e.bench.scale import figures
from e2e.localcluster import pki
from e2e.localcluster.controlplane import CONTROLLER_USER

__all__ = ["PACED_RATE", "PACED_RELEASES", "paced"]

PACED_RATE = 10.0
"""Releases started per second (issue 15: event → action p99 ≤ 1 s at ≤ 10 per second)."""

PACED_RELEASES = 50


def _image(tag: str) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": tag}]}}}}


def paced(
    api: ApiClient,
    namespace: str,
    rollouts: Sequence[str],
    *,
    audit: Path,
    released: Callable[[str], bool],
    say: Callable[[str], None],
    rate: float = PACED_RATE,
    image: str = "app:v3",
) -> dict[str, Any]:
    """Release ``rollouts`` at ``rate`` per second; wait until ``released(name)`` holds
    for each (the controller took the release in hand), then read the latencies."""
    apps = client.AppsV1Api(api)
    offset = audit.stat().st_size
    say(f"paced: {len(rollouts)} releases at {rate:g} per second")
    start = time.monotonic()
    for i, name in enumerate(rollouts):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        apps.patch_namespaced_deployment(name, namespace, _image(image))
    took = time.monotonic() - start
    deadline = time.monotonic() + 120
    waiting = list(rollouts)
    while waiting and time.monotonic() < deadline:
        waiting = [name for name in waiting if not released(name)]
        time.sleep(0.25)
    time.sleep(1)  # the audit log is written asynchronously
    writes = figures.audit_writes(audit, namespace=namespace, offset=offset)
    at = {w.name: w.at for w in writes if w.user == pki.ADMIN.user
          and w.resource == "deployments" and w.name in rollouts}  # fmt: skip
    acted = figures.first_action_latencies(at, writes, user=CONTROLLER_USER)
    creates = [w for w in writes if (w.verb, w.resource) == ("create", "replicasets")]
    created = figures.first_action_latencies(at, creates, user=CONTROLLER_USER)
    out: dict[str, Any] = {
        "paced_rate_per_s": round(len(rollouts) / took, 2) if took else None,
        "paced_releases": len(rollouts),
        "paced_acted_on": len(acted),
    }
    # The first write for a Rollout after its release, and (unambiguous: nothing else
    # creates one) its canary ReplicaSet's creation.
    for key, found in (("event_to_action", acted), ("release_to_canary_rs_created", created)):
        latencies = [*found.values()]
        out[f"paced_{key}_p50_s"] = _rounded(figures.percentile(latencies, 50))
        out[f"paced_{key}_p99_s"] = _rounded(figures.percentile(latencies, 99))
        out[f"paced_{key}_max_s"] = _rounded(max(latencies) if latencies else None)
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
