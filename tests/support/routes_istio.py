"""Istio objects for the router's API-level tests: the CRDs, a VirtualService and a
DestinationRule as a user would write them, a recorder of their versions, and the
helpers the router's tests share (the world with the app, Service selectors, the
release's canary revision, a route target for the router alone).

There is no Istio data plane here: the tests read what the objects say."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

from controller.api.routing import TrafficRouting
from controller.core.revisions import REVISION_LABEL, Revision
from controller.traffic import RouteTarget
from e2e.localcluster import crds
from tests.support.scenario import Harness
from tests.support.waiting import eventually

GROUP = "networking.istio.io"
VERSION = "v1"
STABLE, CANARY = "web-stable", "web-canary"

ISTIO_ROUTING: dict[str, Any] = {
    "stableService": STABLE,
    "canaryService": CANARY,
    "trafficRouting": {"istio": {"virtualService": {"name": "web", "routes": ["primary"]}}},
}
ISTIO_SUBSET_ROUTING: dict[str, Any] = {
    "stableService": STABLE,
    "canaryService": CANARY,
    "trafficRouting": {
        "istio": {
            "virtualService": {"name": "web", "routes": ["primary"]},
            "destinationRule": {"name": "web", "stableSubset": "stable", "canarySubset": "canary"},
        }
    },
}


def user_http(namespace: str, *, subsets: bool) -> list[dict[str, Any]]:
    """A user's http routes: one we weigh (``primary``) among others we never touch."""
    stable: dict[str, Any] = (
        {"host": "web", "subset": "stable", "port": {"number": 80}}
        if subsets
        else {"host": f"{STABLE}", "port": {"number": 80}}
    )
    canary: dict[str, Any] = (
        {"host": f"web.{namespace}.svc.cluster.local", "subset": "canary", "port": {"number": 80}}
        if subsets
        else {"host": f"{CANARY}.{namespace}.svc.cluster.local", "port": {"number": 80}}
    )
    return [
        {
            "name": "admin",
            "match": [{"uri": {"prefix": "/admin"}}],
            "route": [{"destination": {"host": "admin"}}],
            "timeout": "2s",
        },
        {
            "name": "primary",
            "match": [{"uri": {"prefix": "/"}, "ignoreUriCase": True}],
            "route": [
                {
                    "destination": stable,
                    "weight": 100,
                    "headers": {"response": {"set": {"x-s": "1"}}},
                },
                {"destination": canary, "weight": 0},
            ],
            "retries": {"attempts": 3, "perTryTimeout": "1s"},
            "headers": {"request": {"add": {"x-mesh": "yes"}}},
        },
        {"name": "fallback", "route": [{"destination": {"host": STABLE}, "weight": 100}]},
    ]


def owned_out(vs: dict[str, Any]) -> dict[str, Any]:
    """A VirtualService's spec without what the controller owns: the primary route's two
    weights and the ``landinggear-`` routes."""
    spec: dict[str, Any] = copy.deepcopy(vs["spec"])
    spec["http"] = [r for r in spec["http"] if not r.get("name", "").startswith("landinggear-")]
    for route in spec["http"]:
        if route.get("name") == "primary":
            for entry in route["route"]:
                entry.pop("weight", None)
    return spec


def weights(vs: dict[str, Any]) -> tuple[int, int]:
    """(stable, canary) weights of the primary route."""
    route = next(r for r in vs["spec"]["http"] if r.get("name") == "primary")["route"]
    return route[0].get("weight", 0), route[1].get("weight", 0)


@dataclass
class Recorded:
    """A watch of one namespace's objects of one kind, kept as (resourceVersion, object)."""

    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class IstioWorld:
    """The Istio CRDs installed; the test namespace's Services and Istio objects."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        kube = harness.kube
        crds.install(kubectl=kube.kubectl_path, kubeconfig=kube.kubeconfig, names=("istio",))
        self.api = kube.api()
        self.custom = client.CustomObjectsApi(self.api)
        self.ns = harness.namespace

    def create_services(self) -> None:
        """The stable and canary Services (the app declares no container port to create
        them from)."""
        for name in (STABLE, CANARY):
            self.harness.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name},
                    "spec": {
                        "selector": {"app": "web"},
                        "ports": [{"port": 80, "targetPort": 8080}],
                    },
                }
            )

    def create_virtual_service(self, http: list[dict[str, Any]]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "VirtualService",
            "metadata": {"name": "web", "labels": {"team": "shop"}},
            "spec": {"hosts": ["web", "web.example.com"], "gateways": ["mesh"], "http": http},
        }
        return self._create("virtualservices", body)

    def create_destination_rule(self) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DestinationRule",
            "metadata": {"name": "web"},
            "spec": {
                "host": "web",
                "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}},
                "subsets": [
                    {"name": "stable", "labels": {"app": "web"}},
                    {
                        "name": "canary",
                        "labels": {"app": "web"},
                        "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 10}}},
                    },
                    {"name": "legacy", "labels": {"version": "v0"}},
                ],
            },
        }
        return self._create("destinationrules", body)

    def _create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        made: dict[str, Any] = self.custom.create_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, self.ns, plural, body
        )
        return made

    def get(self, plural: str = "virtualservices", name: str = "web") -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, self.ns, plural, name
        )
        return found

    def json_patch(self, ops: list[dict[str, Any]], plural: str = "virtualservices") -> None:
        self.harness.kube.kubectl(
            "patch",
            f"{plural}.{GROUP}/web",
            f"--namespace={self.ns}",
            "--type=json",
            "-p",
            json.dumps(ops),
        )

    def subset_revisions(self) -> dict[str, str | None]:
        subsets = self.get("destinationrules")["spec"]["subsets"]
        return {s["name"]: (s.get("labels") or {}).get(REVISION_LABEL) for s in subsets}

    # ------------------------------------------------------------- recording

    def record(self, what: str) -> Recorded:
        """Start recording the namespace's ``virtualservices`` or ``replicasets``."""
        recorded = Recorded()
        if what == "replicasets":
            apps = client.AppsV1Api(self.api)
            lister: Callable[..., Any] = apps.list_namespaced_replica_set
            args: tuple[Any, ...] = (self.ns,)
        else:
            lister = self.custom.list_namespaced_custom_object
            args = (GROUP, VERSION, self.ns, what)

        def run() -> None:
            version: str | None = None
            while not recorded.stop.is_set():
                w = watch.Watch()  # type: ignore[no-untyped-call]
                resume = {"resource_version": version} if version else {}
                for event in w.stream(lister, *args, timeout_seconds=1, **resume):  # type: ignore[no-untyped-call]
                    obj = event["object"]
                    if not isinstance(obj, dict):
                        obj = self.api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
                    version = obj["metadata"]["resourceVersion"]
                    recorded.events.append((int(version or 0), obj))
                    if recorded.stop.is_set():
                        return

        recorded.thread = threading.Thread(target=run, daemon=True)
        recorded.thread.start()
        return recorded

    def stop(self, recorded: Recorded) -> list[tuple[int, dict[str, Any]]]:
        recorded.stop.set()
        if recorded.thread is not None:
            recorded.thread.join(timeout=10)
        return sorted(recorded.events, key=lambda e: e[0])


def install_istio(harness: Harness) -> IstioWorld:
    """Istio's CRDs installed; the app (2 pods) and its stable and canary Services."""
    world = IstioWorld(harness)
    harness.create_app(replicas=2)
    world.create_services()
    return world


def selector(harness: Harness, name: str) -> dict[str, str]:
    """The selector of the Service ``name`` as the API server has it now."""
    service = client.CoreV1Api(harness.kube.api()).read_namespaced_service(name, harness.namespace)
    return dict(service.spec.selector or {})


def release_started(harness: Harness) -> str:
    """The canary revision, once the release has one."""
    found: str = eventually(
        lambda: harness.status().get("canaryRevision"), timeout=60, what="release started"
    )
    return found


def route_target(harness: Harness, *, canary: str | None = "def") -> RouteTarget:
    """What the router is asked to route for the Rollout ``web`` (by host), without a
    controller: for tests that drive the router alone."""
    return RouteTarget(
        namespace=harness.namespace,
        rollout="web",
        stable=Revision("abc"),
        canary=Revision(canary) if canary else None,
        routing=TrafficRouting.model_validate(ISTIO_ROUTING["trafficRouting"]),
        stable_service=STABLE,
        canary_service=CANARY,
    )
