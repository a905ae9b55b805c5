"""Gateway API routes for tests: builders, a JSON Patch applier and a route watcher."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubernetes import client, watch

if TYPE_CHECKING:
    from tests.support.scenario import Harness

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


def events(harness: Harness, name: str = "web") -> list[dict[str, Any]]:
    """The Events recorded on the Rollout ``name``."""
    core = client.CoreV1Api(harness.kube.api())
    found = core.list_namespaced_event(
        harness.namespace, field_selector=f"involvedObject.name={name}"
    ).items
    return [{"reason": e.reason, "message": e.message, "type": e.type} for e in found]


@dataclass
class ObjectWatcher:
    """Records each version of the objects a watch sees, in order, from a thread."""

    list_fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)
    seen_at: list[float] = field(default_factory=list)
    """``time.monotonic()`` when each of ``versions`` arrived (listed ones: at the list)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def for_custom(cls, harness: Harness, plural: str, name: str) -> ObjectWatcher:
        """One Gateway API route."""
        custom = client.CustomObjectsApi(harness.kube.api())
        return cls(
            list_fn=custom.list_namespaced_custom_object,
            args=(GROUP, VERSION, harness.namespace, plural),
            kwargs={"field_selector": f"metadata.name={name}"},
        )

    @classmethod
    def for_replica_sets(cls, harness: Harness) -> ObjectWatcher:
        """The namespace's ReplicaSets (as plain JSON)."""
        apps = client.AppsV1Api(harness.kube.api())
        return cls(
            list_fn=apps.list_namespaced_replica_set,
            args=(harness.namespace,),
            kwargs={"_preload_content": False},
        )

    @classmethod
    def for_services(cls, harness: Harness) -> ObjectWatcher:
        """The namespace's Services (as plain JSON)."""
        core = client.CoreV1Api(harness.kube.api())
        return cls(
            list_fn=core.list_namespaced_service,
            args=(harness.namespace,),
            kwargs={"_preload_content": False},
        )

    def _list(self, **extra: Any) -> dict[str, Any]:
        answer = self.list_fn(*self.args, **{**self.kwargs, **extra})
        if hasattr(answer, "data"):
            decoded: dict[str, Any] = json.loads(answer.data)
            return decoded
        return answer  # type: ignore[no-any-return]

    def start(self) -> ObjectWatcher:
        listed = self._list()
        version = listed["metadata"]["resourceVersion"]
        self.versions.extend(listed["items"])
        self.seen_at.extend(time.monotonic() for _ in listed["items"])
        kwargs = {k: v for k, v in self.kwargs.items() if k != "_preload_content"}

        def run() -> None:
            nonlocal version
            while not self._stop.is_set():
                stream = watch.Watch()  # type: ignore[no-untyped-call]
                for event in stream.stream(  # type: ignore[no-untyped-call]
                    self.list_fn,
                    *self.args,
                    **kwargs,
                    resource_version=version,
                    timeout_seconds=2,
                ):
                    obj = event["raw_object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.versions.append(obj)
                        self.seen_at.append(time.monotonic())
                    if self._stop.is_set():
                        stream.stop()  # type: ignore[no-untyped-call]

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
