"""Gateway API routes for tests: builders, a JSON Patch applier and a route watcher."""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

GROUP = "gateway.networking.k8s.io"
VERSION = "v1"


class PatchTestFailed(Exception):
    """A JSON Patch ``test`` op did not hold (the API server answers 422)."""


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def apply_json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 ``test``/``add``/``replace``/``remove`` applied to a copy of ``doc``."""
    result = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if kind == "test":
            here = node[int(last)] if isinstance(node, list) else node.get(last)
            if json.dumps(here, sort_keys=True) != json.dumps(op["value"], sort_keys=True):
                raise PatchTestFailed(f"{op['path']}: {here!r} != {op['value']!r}")
        elif kind == "add" and isinstance(node, list):
            if last == "-":
                node.append(copy.deepcopy(op["value"]))
            else:
                node.insert(int(last), copy.deepcopy(op["value"]))
        elif kind in ("add", "replace"):
            if isinstance(node, list):
                node[int(last)] = copy.deepcopy(op["value"])
            else:
                node[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            if isinstance(node, list):
                del node[int(last)]
            else:
                del node[last]
        else:
            raise AssertionError(f"unsupported op {kind}")
    return result


def backend(name: str, *, port: int = 80, weight: int = 1) -> dict[str, Any]:
    """A backendRef as the API server stores it (defaults filled in)."""
    return {"group": "", "kind": "Service", "name": name, "port": port, "weight": weight}


def http_route(name: str, rules: list[dict[str, Any]], *, namespace: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": "1", "generation": 1}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HTTPRoute",
        "metadata": meta,
        "spec": {"parentRefs": [{"name": "gw"}], "rules": rules},
    }


def weights_of(route: dict[str, Any]) -> dict[str, list[tuple[str, int]]]:
    """Per rule (by name, else index): each backendRef's (name, weight)."""
    result = {}
    for index, rule in enumerate(route["spec"].get("rules") or []):
        key = rule.get("name") or f"#{index}"
        result[key] = [(r["name"], r.get("weight", 1)) for r in rule.get("backendRefs") or []]
    return result


@dataclass
class RouteWatcher:
    """Records each version of one route seen by a watch, in order, from a thread."""

    api: client.ApiClient
    namespace: str
    name: str
    plural: str = "httproutes"
    versions: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RouteWatcher:
        custom = client.CustomObjectsApi(self.api)
        listed = custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, self.plural, field_selector=f"metadata.name={self.name}"
        )
        version = listed["metadata"]["resourceVersion"]  # type: ignore[index]
        self.versions.extend(listed["items"])  # type: ignore[index]

        def run() -> None:
            nonlocal version
            while not self._stop.is_set():
                stream = watch.Watch()  # type: ignore[no-untyped-call]
                for event in stream.stream(  # type: ignore[no-untyped-call]
                    custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    self.plural,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=version,
                    timeout_seconds=2,
                ):
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.versions.append(obj)
                    if self._stop.is_set():
                        stream.stop()  # type: ignore[no-untyped-call]

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
