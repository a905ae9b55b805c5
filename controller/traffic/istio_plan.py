"""What the Istio router writes: JSON Patches computed from the observed objects (pure).

A VirtualService's ``spec.http`` and a DestinationRule's ``spec.subsets`` are
atomic lists in Istio's CRDs (no ``x-kubernetes-list-type``), so server-side
apply cannot own one weight inside them: applying our weights would make us own
the whole list, and the next apply would drop every edit made by someone else.
The controller sends JSON Patches instead (:func:`http_patch`,
:func:`subset_patch`), each op addressing one field by index:

- ``add …/route/<j>/weight`` for the stable and canary destinations of the
  weighted routes, each guarded by a ``test`` of that destination;
- ``remove``/``add`` of whole http routes named ``landinggear-<name>`` (header
  routes, the controller's own, always first in ``spec.http``);
- ``add``/``remove`` of one key of a subset's ``labels`` (the revision label),
  guarded by a ``test`` of the subset's name;

and the first op tests ``metadata.resourceVersion``, so a patch computed from an
object that has changed since it was read fails as a whole (the router re-reads
and plans again). Nothing else in either object is ever written. An empty patch
means the objects already say what is wanted.

Destinations are recognised by host — the stable / canary Service, by short
name or ``<svc>.<namespace>[.svc[.<domain>]]`` — or, with a DestinationRule, by
subset name. :func:`apply_ops` applies a patch here (the tests' and the
planner's own model of what the API server does).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.api.routing import SetHeaderRoute
from controller.core.revisions import REVISION_LABEL

__all__ = [
    "HEADER_ROUTE_PREFIX",
    "Backends",
    "Op",
    "PlanError",
    "WeightedRoute",
    "apply_ops",
    "header_route",
    "http_patch",
    "released_subsets",
    "removed_header_routes",
    "subset_patch",
    "weighted_routes",
]

HEADER_ROUTE_PREFIX = "landinggear-"
"""Http routes whose name starts with this are the controller's (header routes)."""

Op = dict[str, Any]


class PlanError(ValueError):
    """The objects cannot be routed as the Rollout asks; the message says what is missing."""


@dataclass(frozen=True, kw_only=True)
class Backends:
    """How the stable and canary destinations of an http route are recognised."""

    namespace: str
    stable_service: str
    canary_service: str
    stable_subset: str | None = None
    """With a DestinationRule: destinations are told apart by subset, not host."""
    canary_subset: str | None = None

    def _host(self, host: str, service: str) -> bool:
        local = f"{service}.{self.namespace}"
        return host in (service, local, f"{local}.svc") or host.startswith(f"{local}.svc.")

    def is_stable(self, destination: Mapping[str, Any]) -> bool:
        if self.stable_subset is not None:
            return destination.get("subset") == self.stable_subset
        return self._host(str(destination.get("host", "")), self.stable_service)

    def is_canary(self, destination: Mapping[str, Any]) -> bool:
        if self.canary_subset is not None:
            return destination.get("subset") == self.canary_subset
        return self._host(str(destination.get("host", "")), self.canary_service)

    def describe(self, *, canary: bool) -> str:
        if canary:
            if self.canary_subset is not None:
                return f"subset {self.canary_subset}"
            return f"host {self.canary_service}"
        if self.stable_subset is not None:
            return f"subset {self.stable_subset}"
        return f"host {self.stable_service}"


@dataclass(frozen=True, kw_only=True)
class WeightedRoute:
    """An http route the weights go on: its index and its two destinations' indexes."""

    index: int
    stable: int
    canary: int


def _ours(route: Mapping[str, Any]) -> bool:
    return str(route.get("name") or "").startswith(HEADER_ROUTE_PREFIX)


def _pair(route: Mapping[str, Any], backends: Backends) -> tuple[int | None, int | None]:
    stable = canary = None
    for j, entry in enumerate(route.get("route") or []):
        destination = entry.get("destination") or {}
        if stable is None and backends.is_stable(destination):
            stable = j
        elif canary is None and backends.is_canary(destination):
            canary = j
    return stable, canary


def weighted_routes(
    http: Sequence[Mapping[str, Any]], *, names: Sequence[str], backends: Backends, what: str
) -> list[WeightedRoute]:
    """The routes to weigh: those ``names`` (each must exist and have both
    destinations), or with no names every route that has both; ``what`` names the
    VirtualService in errors."""
    found = []
    if names:
        for name in names:
            index = next(
                (i for i, r in enumerate(http) if r.get("name") == name and not _ours(r)), None
            )
            if index is None:
                known = ", ".join(str(r.get("name")) for r in http if r.get("name")) or "none"
                raise PlanError(
                    f"{what} has no http route named {name!r} (named routes: {known}); "
                    "name the route or fix trafficRouting.istio.virtualService.routes"
                )
            stable, canary = _pair(http[index], backends)
            if stable is None or canary is None:
                lacking = backends.describe(canary=stable is not None)
                raise PlanError(
                    f"http route {name!r} of {what} has no destination with {lacking}: "
                    "add one to its route list"
                )
            found.append(WeightedRoute(index=index, stable=stable, canary=canary))
        return found
    for index, route in enumerate(http):
        if _ours(route):
            continue
        stable, canary = _pair(route, backends)
        if stable is not None and canary is not None:
            found.append(WeightedRoute(index=index, stable=stable, canary=canary))
    if not found:
        raise PlanError(
            f"no http route of {what} has destinations with both "
            f"{backends.describe(canary=False)} and {backends.describe(canary=True)}: "
            "add them to a route (or name the routes in trafficRouting.istio.virtualService)"
        )
    return found


def header_route(
    wanted: SetHeaderRoute, *, weighted: Mapping[str, Any], canary: Mapping[str, Any]
) -> dict[str, Any]:
    """The controller's http route for ``wanted``: its headers (AND), combined with each
    uri match of the first ``weighted`` route, all of it to the ``canary`` destination."""
    headers: dict[str, Any] = {}
    for match in wanted.match:
        value = match.header_value
        if value.exact is not None:
            headers[match.header_name.lower()] = {"exact": value.exact}
        elif value.prefix is not None:
            headers[match.header_name.lower()] = {"prefix": value.prefix}
        else:
            headers[match.header_name.lower()] = {"regex": value.regex}
    uris = [m["uri"] for m in weighted.get("match") or [] if m.get("uri")]
    matches = [{"headers": headers, "uri": uri} for uri in uris] or [{"headers": headers}]
    return {
        "name": HEADER_ROUTE_PREFIX + wanted.name,
        "match": matches,
        "route": [{"destination": copy.deepcopy(dict(canary)), "weight": 100}],
    }


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _guarded(observed: Mapping[str, Any], ops: list[Op]) -> list[Op]:
    if not ops:
        return []
    version = (observed.get("metadata") or {}).get("resourceVersion")
    if version is None:
        return ops
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": version}, *ops]


def http_patch(
    observed: Mapping[str, Any],
    *,
    names: Sequence[str],
    backends: Backends,
    weight: int,
    header_routes: Sequence[SetHeaderRoute] = (),
    changes: list[str] | None = None,
) -> list[Op]:
    """The JSON Patch giving ``observed`` (a VirtualService) ``weight`` percent to the
    canary on the weighted routes and exactly ``header_routes`` (those with a match)
    first; empty when it already does. What changes is appended to ``changes``."""
    said = changes if changes is not None else []
    what = f"VirtualService {(observed.get('metadata') or {}).get('name', '')}"
    http = copy.deepcopy(list((observed.get("spec") or {}).get("http") or []))
    if not http:
        raise PlanError(f"{what} has no http routes: add one with the stable and canary")
    ops: list[Op] = []
    first = weighted_routes(http, names=names, backends=backends, what=what)[0]
    canary = http[first.index]["route"][first.canary]["destination"]
    wanted = [
        header_route(h, weighted=http[first.index], canary=canary) for h in header_routes if h.match
    ]
    ours = [i for i, r in enumerate(http) if _ours(r)]
    if ours != list(range(len(wanted))) or http[: len(wanted)] != wanted:
        had = {http[i]["name"]: http[i] for i in ours}
        for i in reversed(ours):
            ops.append({"op": "test", "path": f"/spec/http/{i}/name", "value": http[i]["name"]})
            ops.append({"op": "remove", "path": f"/spec/http/{i}"})
            del http[i]
        for k, route in enumerate(wanted):
            ops.append({"op": "add", "path": f"/spec/http/{k}", "value": route})
            http.insert(k, route)
        names_wanted = [r["name"] for r in wanted]
        said.extend(f"{what}: header route {n} removed" for n in had if n not in names_wanted)
        said.extend(
            f"{what}: header route {r['name']} set" for r in wanted if had.get(r["name"]) != r
        )
        if not any(had.get(r["name"]) != r for r in wanted) and set(had) == set(names_wanted):
            said.append(f"{what}: header routes moved first")
    for found in weighted_routes(http, names=names, backends=backends, what=what):
        route = http[found.index]
        label = route.get("name") or f"#{found.index}"
        was = [route["route"][j].get("weight") for j in (found.stable, found.canary)]
        for j, share in ((found.stable, 100 - weight), (found.canary, weight)):
            entry = route["route"][j]
            if entry.get("weight") == share:
                continue
            base = f"/spec/http/{found.index}/route/{j}"
            ops.append({"op": "test", "path": f"{base}/destination", "value": entry["destination"]})
            ops.append({"op": "add", "path": f"{base}/weight", "value": share})
            entry["weight"] = share
        if was != [100 - weight, weight]:
            said.append(
                f"{what}: route {label} weights {100 - weight}/{weight} "
                f"(was {was[0] if was[0] is not None else '-'}/"
                f"{was[1] if was[1] is not None else '-'})"
            )
    return _guarded(observed, ops)


def removed_header_routes(observed: Mapping[str, Any]) -> list[Op]:
    """The JSON Patch taking the controller's header routes out of ``observed`` (a
    VirtualService whose weighted routes may be gone); empty when it has none."""
    http = (observed.get("spec") or {}).get("http") or []
    ops: list[Op] = []
    for i in reversed([i for i, r in enumerate(http) if _ours(r)]):
        ops.append({"op": "test", "path": f"/spec/http/{i}/name", "value": http[i]["name"]})
        ops.append({"op": "remove", "path": f"/spec/http/{i}"})
    return _guarded(observed, ops)


def _subsets(observed: Mapping[str, Any], names: Sequence[str]) -> list[int]:
    what = f"DestinationRule {(observed.get('metadata') or {}).get('name', '')}"
    subsets = (observed.get("spec") or {}).get("subsets") or []
    indexes = []
    for name in names:
        index = next((i for i, s in enumerate(subsets) if s.get("name") == name), None)
        if index is None:
            raise PlanError(f"{what} has no subset named {name!r}: add it to its subsets")
        indexes.append(index)
    return indexes


def subset_patch(
    observed: Mapping[str, Any],
    wanted: Mapping[str, str],
    *,
    changes: list[str] | None = None,
) -> list[Op]:
    """The JSON Patch giving each subset named in ``wanted`` the revision label's value
    ``wanted[name]`` (its other labels and fields untouched); empty when they have it."""
    said = changes if changes is not None else []
    what = f"DestinationRule {(observed.get('metadata') or {}).get('name', '')}"
    subsets = (observed.get("spec") or {}).get("subsets") or []
    ops: list[Op] = []
    for name, index in zip(wanted, _subsets(observed, list(wanted)), strict=True):
        labels = subsets[index].get("labels")
        revision = wanted[name]
        if (labels or {}).get(REVISION_LABEL) == revision:
            continue
        ops.append({"op": "test", "path": f"/spec/subsets/{index}/name", "value": name})
        if labels is None:
            ops.append(
                {
                    "op": "add",
                    "path": f"/spec/subsets/{index}/labels",
                    "value": {REVISION_LABEL: revision},
                }
            )
        else:
            path = f"/spec/subsets/{index}/labels/{_escape(REVISION_LABEL)}"
            ops.append({"op": "add", "path": path, "value": revision})
        said.append(f"{what}: subset {name} selects {revision}")
    return _guarded(observed, ops)


def released_subsets(observed: Mapping[str, Any], names: Sequence[str]) -> list[Op]:
    """The JSON Patch taking the revision label out of the subsets ``names`` (the ones
    that are there); empty when none has it."""
    subsets = (observed.get("spec") or {}).get("subsets") or []
    ops: list[Op] = []
    for index, subset in enumerate(subsets):
        if subset.get("name") in names and REVISION_LABEL in (subset.get("labels") or {}):
            path = f"/spec/subsets/{index}/labels/{_escape(REVISION_LABEL)}"
            ops.append(
                {"op": "test", "path": f"/spec/subsets/{index}/name", "value": subset["name"]}
            )
            ops.append({"op": "remove", "path": path})
    return _guarded(observed, ops)


def _walk(doc: Any, path: str) -> tuple[Any, str | int]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    last = parts[-1]
    return doc, (int(last) if isinstance(doc, list) and last != "-" else last)


def apply_ops(obj: Mapping[str, Any], ops: Sequence[Op]) -> dict[str, Any]:
    """``obj`` with the JSON Patch ``ops`` (test, add, remove, replace) applied, as
    RFC 6902 says; raises ``ValueError`` when a test fails."""
    doc: dict[str, Any] = copy.deepcopy(dict(obj))
    for op in ops:
        parent, key = _walk(doc, op["path"])
        if op["op"] == "test":
            if parent[key] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif op["op"] == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if key == "-" else int(key), copy.deepcopy(op["value"]))
            else:
                parent[key] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[key]
        elif op["op"] == "replace":
            parent[key] = copy.deepcopy(op["value"])
        else:
            raise ValueError(f"unsupported op {op['op']}")
    return doc
