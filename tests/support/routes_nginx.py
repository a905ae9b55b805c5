"""Given/then helpers for the NGINX router's scenarios (API-level: no ingress-nginx runs).

``nginx_app`` is ``web`` with a stable and a canary Service and the user's stable
Ingress ``web``; :class:`Recorder` watches the namespace's Ingresses and
ReplicaSets and keeps every event with its ``resourceVersion`` (etcd's revision,
one sequence for the whole store), so the order of a route change and a scale-down
can be read off it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

from controller.api import v1alpha1
from controller.core.revisions import REVISION_LABEL
from controller.traffic import nginx_plan
from tests.support.scenario import Harness

CANARY_INGRESS = "web-web-canary"
STABLE_SERVICE, CANARY_SERVICE = "web-stable", "web-canary"


def _path(path: str, service: str) -> dict[str, Any]:
    return {
        "path": path,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": 80}}},
    }


STABLE_INGRESS: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "web",
        "labels": {"team": "shop"},
        "annotations": {
            "nginx.ingress.kubernetes.io/ssl-redirect": "false",
            "example.com/owner": "shop",
        },
    },
    "spec": {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["shop.example"], "secretName": "shop-tls"}],
        "rules": [
            {
                "host": "shop.example",
                "http": {"paths": [_path("/", STABLE_SERVICE), _path("/img", "images")]},
            },
            {"host": "img.example", "http": {"paths": [_path("/", "images")]}},
        ],
    },
}


def nginx_app(harness: Harness, *, replicas: int = 2) -> None:
    """``web``, its stable and canary Services, and the stable Ingress."""
    harness.create_app(replicas=replicas)
    for name in (STABLE_SERVICE, CANARY_SERVICE):
        harness.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        )
    harness.apply(STABLE_INGRESS)


def create_rollout(
    harness: Harness,
    steps: list[dict[str, Any]],
    *,
    stable_ingress: str = "web",
    additional: dict[str, str] | None = None,
) -> None:
    nginx: dict[str, Any] = {"stableIngress": stable_ingress}
    if additional:
        nginx["additionalIngressAnnotations"] = additional
    harness.apply(
        {
            "apiVersion": v1alpha1.API_VERSION,
            "kind": v1alpha1.KIND,
            "metadata": {"name": "web"},
            "spec": {
                "workloadRef": {"name": "web"},
                "strategy": {
                    "canary": {
                        "steps": steps,
                        "stableService": STABLE_SERVICE,
                        "canaryService": CANARY_SERVICE,
                        "trafficRouting": {"nginx": nginx},
                    }
                },
            },
        }
    )


def ingress(harness: Harness, name: str) -> dict[str, Any] | None:
    """The Ingress as JSON, None when there is none."""
    proc = harness.kube.kubectl(
        "get", "ingress", name, f"--namespace={harness.namespace}", "-o", "json", check=False
    )
    if proc.returncode != 0:
        if "NotFound" in proc.stderr:
            return None
        raise AssertionError(proc.stderr)
    found: dict[str, Any] = json.loads(proc.stdout)
    return found


def weight(harness: Harness) -> int | None:
    """The canary Ingress' weight (None: no canary Ingress)."""
    found = ingress(harness, CANARY_INGRESS)
    return nginx_plan.weight_of(found) if found else None


@dataclass(frozen=True)
class Seen:
    revision: int
    kind: str
    name: str
    value: Any


@dataclass
class Recorder:
    """Every Ingress (weight, annotations) and ReplicaSet (revision, spec replicas) event in
    the namespace while it runs."""

    harness: Harness
    seen: list[Seen] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Recorder:
        api = self.harness.kube.api()
        net, apps = client.NetworkingV1Api(api), client.AppsV1Api(api)
        ns = self.harness.namespace
        for lister, kind in (
            (net.list_namespaced_ingress, "Ingress"),
            (apps.list_namespaced_replica_set, "ReplicaSet"),
        ):
            start = lister(ns).metadata.resource_version
            thread = threading.Thread(target=self._run, args=(lister, kind, start), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, lister: Any, kind: str, since: str) -> None:
        while not self._stop.is_set():
            stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                lister, self.harness.namespace, resource_version=since, timeout_seconds=2
            )
            for event in stream:
                obj = event["object"]
                since = obj.metadata.resource_version
                if kind == "Ingress":
                    value: Any = dict(obj.metadata.annotations or {})
                    if event["type"] == "DELETED":
                        value = None
                else:
                    value = ((obj.metadata.labels or {}).get(REVISION_LABEL), obj.spec.replicas)
                self.seen.append(Seen(int(since), kind, obj.metadata.name, value))
                if self._stop.is_set():
                    return

    def weights(self) -> list[int | None]:
        """The canary Ingress' weights in order, repeats folded (None: deleted)."""
        out: list[int | None] = []
        for seen in self.seen:
            if seen.kind != "Ingress" or seen.name != CANARY_INGRESS:
                continue
            value = None if seen.value is None else int(seen.value[nginx_plan.CANARY_WEIGHT])
            if not out or out[-1] != value:
                out.append(value)
        return out


def events(harness: Harness, reason: str) -> list[dict[str, Any]]:
    out = harness.kube.kubectl(
        "get", "events.v1.events.k8s.io", f"--namespace={harness.namespace}", "-o", "json"
    ).stdout
    return [e for e in json.loads(out)["items"] if e.get("reason") == reason]
