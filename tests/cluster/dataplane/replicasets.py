"""ReplicaSets made by hand, labelled exactly as the controller labels its own."""

from __future__ import annotations

import json

from tests.support.kube import ClusterUnderTest


def apply_replicaset(
    kube: ClusterUnderTest,
    namespace: str,
    *,
    revision: str,
    replicas: int,
    env: dict[str, str] | None = None,
    rollout: str = "web",
) -> str:
    """Create a ReplicaSet labelled as the controller labels its own; return its name."""
    labels = {"landinggear.dev/rollout": rollout, "landinggear.dev/pod-template-hash": revision}
    name = f"{rollout}-{revision}"
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": rollout, **labels}},
            "template": {
                "metadata": {"labels": {"app": rollout, **labels}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "example.invalid/web",
                            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                        }
                    ]
                },
            },
        },
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    return name
