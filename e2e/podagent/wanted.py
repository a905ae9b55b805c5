"""Pure: which pods want a demo app, read from Pod objects (plain dicts).

A pod wants an app while it is annotated :data:`~e2e.localcluster.stages.DEMO_APP_ANNOTATION`
``"true"`` (put it on the pod template), is not being deleted, and kwok has made
it Running with a pod IP. Its app listens on ``podIP:port``, ``port`` being the
first container's first ``containerPort`` (8080 without one), behaves as that
container's env says (:func:`e2e.dataplane.desired.behaviour_from_env`), and
names itself by the pod's revision label (``landinggear.dev/pod-template-hash``,
else a Deployment's ``pod-template-hash``, else the pod's name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.revisions import REVISION_LABEL
from e2e.dataplane.desired import Behaviour, behaviour_from_env
from e2e.localcluster.stages import DEMO_APP_ANNOTATION, SERVING_ANNOTATION

__all__ = ["AGENT_ANNOTATION", "DEFAULT_PORT", "PodApp", "is_serving", "wanted_apps"]

DEFAULT_PORT = 8080
"""The app's port when the pod's first container declares no ``containerPort``."""

_DEPLOYMENT_HASH_LABEL = "pod-template-hash"


@dataclass(frozen=True, kw_only=True)
class PodApp:
    """The demo app one pod wants: where it listens and how it behaves."""

    uid: str
    namespace: str
    name: str
    ip: str
    port: int
    revision: str
    behaviour: Behaviour

    @property
    def pod(self) -> str:
        """``namespace/name``, as the app reports it (``X-Pod``)."""
        return f"{self.namespace}/{self.name}"


def _annotations(pod: Mapping[str, Any]) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("annotations") or {}


def is_serving(pod: Mapping[str, Any]) -> bool:
    """Whether the pod carries the agent's ``serving`` annotation."""
    return _annotations(pod).get(SERVING_ANNOTATION) == "true"


def _port(container: Mapping[str, Any]) -> int:
    for port in container.get("ports") or ():
        if port.get("containerPort"):
            return int(port["containerPort"])
    return DEFAULT_PORT


AGENT_ANNOTATION = "landinggear.dev/demo-app-agent"
"""Names the agent that serves the pod: absent for the cluster's own (``localcluster
up`` runs one for every namespace); a test's private agent serves only pods naming it."""


def wanted_apps(
    pods: Iterable[Mapping[str, Any]], *, agent: str = ""
) -> tuple[dict[str, PodApp], list[str]]:
    """The apps agent ``agent`` runs, by pod uid, and a message per demo-app pod of its
    that had to be skipped."""
    wanted: dict[str, PodApp] = {}
    problems: list[str] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        annotations = _annotations(pod)
        if annotations.get(DEMO_APP_ANNOTATION) != "true" or meta.get("deletionTimestamp"):
            continue
        if annotations.get(AGENT_ANNOTATION, "") != agent:
            continue
        ip = status.get("podIP")
        if status.get("phase") != "Running" or not ip:
            continue
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        try:
            behaviour = behaviour_from_env(containers[0].get("env"))
        except ValueError as err:
            problems.append(f"Pod {namespace}/{name}: {err}")
            continue
        labels = meta.get("labels") or {}
        revision = labels.get(REVISION_LABEL) or labels.get(_DEPLOYMENT_HASH_LABEL) or name
        wanted[meta["uid"]] = PodApp(
            uid=meta["uid"],
            namespace=namespace,
            name=name,
            ip=ip,
            port=_port(containers[0]),
            revision=revision,
            behaviour=behaviour,
        )
    return wanted, problems
