"""A kubeconfig with one cluster, one user authenticated by a bearer token, one context."""

from __future__ import annotations

import json
from pathlib import Path


def token_kubeconfig(path: Path, *, server: str, token: str, namespace: str | None = None) -> Path:
    """Write it (JSON, which kubectl reads as YAML) to ``path`` and return ``path``."""
    context: dict[str, str] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": context}],
        "current-context": "x",
    }
    path.write_text(json.dumps(document))
    return path
