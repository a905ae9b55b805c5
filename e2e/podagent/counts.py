"""Reading what each pod's app served, from the host, through its Unix socket.

The host never connects to a pod IP; each app serves ``GET /counts`` on a Unix
socket under the agent's run directory, and the agent lists its apps in
``apps.json`` there (see :mod:`e2e.podagent.agent`). Any host process can read
them with :func:`counts_in`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["MANIFEST", "AppCounts", "counts_in", "read_counts"]

MANIFEST = "apps.json"
"""In the agent's run directory: one entry per running app (pod, revision, socket…)."""


@dataclass(frozen=True, kw_only=True)
class AppCounts:
    """Requests one pod's app answered, by status code."""

    pod: str
    revision: str
    codes: dict[str, int]

    @property
    def requests(self) -> int:
        return sum(self.codes.values())

    @property
    def errors(self) -> int:
        """Answers with a 5xx code."""
        return sum(n for code, n in self.codes.items() if code.startswith("5"))


def read_counts(socket_path: Path, *, timeout: float = 2.0) -> AppCounts:
    """``GET /counts`` of the app serving its admin endpoints on ``socket_path``."""
    transport = httpx.HTTPTransport(uds=str(socket_path))
    with httpx.Client(transport=transport, timeout=timeout, trust_env=False) as client:
        answer = client.get("http://app/counts")
        answer.raise_for_status()
        raw = answer.json()
    return AppCounts(
        pod=str(raw["pod"]),
        revision=str(raw["revision"]),
        codes={str(code): int(n) for code, n in raw["codes"].items()},
    )


def counts_in(run_dir: Path) -> dict[str, AppCounts]:
    """Counts of every app the agent with ``run_dir`` runs, by ``namespace/name``;
    an app that does not answer (not yet serving, just stopped) is left out."""
    try:
        apps = json.loads((run_dir / MANIFEST).read_text())
    except FileNotFoundError:
        return {}
    found = {}
    for app in apps:
        try:
            found[app["pod"]] = read_counts(Path(app["socket"]))
        except (httpx.HTTPError, OSError):
            continue
    return found
