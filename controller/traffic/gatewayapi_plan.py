"""What the Gateway API router changes on one route, computed from the route as read.

Pure: a route object (an ``HTTPRoute`` or ``GRPCRoute`` as the API server returns
it, defaults filled in) and what is wanted go in; a JSON Patch (RFC 6902) and the
changes it makes, in words, come out. The patch is empty when the route already
says what is wanted, so the caller then makes no request at all.

The controller owns exactly:

- the ``weight`` of each ``backendRef`` naming the stable or canary Service in
  the targeted rules (canary = weight, stable = 100 - weight);
- the rules named ``landinggear-<header route>`` (one per ``setHeaderRoute`` in
  force): the targeted rules' matches with the header matches added, sending to
  the canary Service only.

Why a JSON Patch and not server-side apply: in the Gateway API CRDs (v1.6.3
standard channel, checked on the installed CRD) ``spec.rules`` and each rule's
``backendRefs`` are ``x-kubernetes-list-type: atomic``. An atomic list is one
field to server-side apply: applying a partial route would make our field manager
the owner of the whole ``rules`` list and replace it with what we sent, so the
user's matches, filters and other rules would be ours or gone. Field ownership
cannot be narrowed to the weights. So every write names its positions: each
weight is set by index, right after a ``test`` that the backendRef at that index
still names the Service we mean; each rule of ours is replaced or removed after a
``test`` of its name; and the whole patch is guarded by a ``test`` of
``metadata.resourceVersion``, so a route changed since we read it is not patched
at all (the API server answers 409/422; the reconcile is retried from a fresh read).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.api.routing import HeaderMatch, SetHeaderRoute

__all__ = [
    "OUR_RULE_PREFIX",
    "PlanError",
    "RouteKind",
    "RoutePlan",
    "Wanted",
    "header_matches",
    "merged",
    "our_rule_name",
    "plan",
    "served",
    "status_current",
    "targeted_rules",
]

OUR_RULE_PREFIX = "landinggear-"
_REGEX_SPECIAL = set("\\.+*?()|[]{}^$")


class RouteKind(StrEnum):
    """The route kinds weighed, by ``kind``; ``plural`` names their resource."""

    HTTP = "HTTPRoute"
    GRPC = "GRPCRoute"

    @property
    def plural(self) -> str:
        return "httproutes" if self is RouteKind.HTTP else "grpcroutes"


class PlanError(ValueError):
    """The route cannot be weighed as asked; the message says what to change."""


@dataclass(frozen=True, kw_only=True)
class Wanted:
    """What one route should say."""

    kind: RouteKind
    stable_service: str
    canary_service: str
    weight: int
    rules: frozenset[str] | None = None
    """Names of the rules to weigh; None for every rule naming both Services."""
    header_routes: tuple[SetHeaderRoute, ...] = ()


@dataclass(frozen=True)
class RoutePlan:
    """A JSON Patch for one route and what it changes, in words (both empty: no change)."""

    ops: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def our_rule_name(header_route: str) -> str:
    return f"{OUR_RULE_PREFIX}{header_route}"


def _ours(rule: Mapping[str, Any]) -> bool:
    return str(rule.get("name") or "").startswith(OUR_RULE_PREFIX)


def _names_service(ref: Mapping[str, Any], service: str, namespace: str) -> bool:
    return (
        ref.get("name") == service
        and (ref.get("group") or "") == ""
        and (ref.get("kind") or "Service") == "Service"
        and ref.get("namespace", namespace) == namespace
    )


def _rules(route: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((route.get("spec") or {}).get("rules") or [])


def _label(route: Mapping[str, Any], kind: RouteKind) -> str:
    return f"{kind.value} {route['metadata']['name']}"


def _rule_label(rule: Mapping[str, Any], index: int) -> str:
    return f"rule {rule['name']}" if rule.get("name") else f"rule #{index}"


def targeted_rules(route: Mapping[str, Any], wanted: Wanted) -> list[int]:
    """Indexes of the rules whose weights are ours; :class:`PlanError` when a named
    rule is missing or a targeted rule does not send to both Services."""
    namespace = route["metadata"].get("namespace", "")
    stable, canary = wanted.stable_service, wanted.canary_service
    rules = _rules(route)

    def both(rule: Mapping[str, Any]) -> bool:
        refs = rule.get("backendRefs") or []
        return any(_names_service(r, stable, namespace) for r in refs) and any(
            _names_service(r, canary, namespace) for r in refs
        )

    label = _label(route, wanted.kind)
    if wanted.rules is None:
        found = [i for i, rule in enumerate(rules) if not _ours(rule) and both(rule)]
        if not found:
            raise PlanError(
                f"{label} has no rule whose backendRefs name both Services {stable} and "
                f"{canary}: add both Services as backendRefs of the rule to weigh"
            )
        return found
    indexes = []
    for name in sorted(wanted.rules):
        index = next((i for i, rule in enumerate(rules) if rule.get("name") == name), None)
        if index is None:
            have = ", ".join(str(r["name"]) for r in rules if r.get("name")) or "none named"
            raise PlanError(
                f"{label} has no rule named {name} (its rules: {have}): name the rule "
                "in the route, or omit `rule` to weigh every rule sending to both Services"
            )
        if not both(rules[index]):
            raise PlanError(
                f"{label} rule {name} does not send to both Services {stable} and "
                f"{canary}: add both Services as backendRefs"
            )
        indexes.append(index)
    return sorted(indexes)


def _regex_escape(text: str) -> str:
    """Escape what is special in RE2 (and in ECMAScript/PCRE) — nothing else."""
    return "".join(f"\\{c}" if c in _REGEX_SPECIAL else c for c in text)


def header_matches(match: Sequence[HeaderMatch]) -> list[dict[str, str]]:
    """``setHeaderRoute`` matches as Gateway API header matches (HTTP and gRPC alike);
    a prefix becomes the regular expression ``^<escaped prefix>``."""
    result = []
    for header in match:
        value = header.header_value
        if value.exact is not None:
            result.append({"name": header.header_name, "type": "Exact", "value": value.exact})
        elif value.prefix is not None:
            pattern = "^" + _regex_escape(value.prefix)
            result.append(
                {"name": header.header_name, "type": "RegularExpression", "value": pattern}
            )
        else:
            result.append(
                {
                    "name": header.header_name,
                    "type": "RegularExpression",
                    "value": value.regex or "",
                }
            )
    return result


def _header_rule(
    route: Mapping[str, Any], indexes: Sequence[int], header_route: SetHeaderRoute, wanted: Wanted
) -> dict[str, Any]:
    """Our rule for ``header_route``: each targeted rule's matches (ORed) with the
    headers ANDed in, to the canary Service only, written with the API server's
    defaults so that reading it back compares equal."""
    namespace = route["metadata"].get("namespace", "")
    rules = _rules(route)
    headers = header_matches(header_route.match)
    names = {h["name"].lower() for h in headers}
    matches: list[dict[str, Any]] = []
    port = None
    for index in indexes:
        rule = rules[index]
        for match in rule.get("matches") or [{}]:
            copied = copy.deepcopy(dict(match))
            kept = [
                h for h in copied.get("headers") or [] if str(h.get("name")).lower() not in names
            ]
            copied["headers"] = [*kept, *headers]
            if copied not in matches:
                matches.append(copied)
        if port is None:
            refs = rule.get("backendRefs") or []
            canary = next(r for r in refs if _names_service(r, wanted.canary_service, namespace))
            port = canary.get("port")
    backend: dict[str, Any] = {"group": "", "kind": "Service", "name": wanted.canary_service}
    if port is not None:
        backend["port"] = port
    backend["weight"] = 1
    return {
        "name": our_rule_name(header_route.name),
        "matches": matches,
        "backendRefs": [backend],
    }


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def plan(route: Mapping[str, Any], wanted: Wanted, *, lenient: bool = False) -> RoutePlan:
    """The JSON Patch taking ``route`` to what is wanted; empty when it is there.

    ``lenient`` (handing the route back): a route whose rules can no longer be
    targeted still gets its rules of ours removed, and no weights are set.
    """
    label = _label(route, wanted.kind)
    try:
        indexes = targeted_rules(route, wanted)
    except PlanError:
        if not lenient:
            raise
        indexes = []
    namespace = route["metadata"].get("namespace", "")
    rules = _rules(route)
    ops: list[dict[str, Any]] = []
    changes: list[str] = []
    for index in indexes:
        rule = rules[index]
        for j, ref in enumerate(rule.get("backendRefs") or []):
            if _names_service(ref, wanted.canary_service, namespace):
                want = wanted.weight
            elif _names_service(ref, wanted.stable_service, namespace):
                want = 100 - wanted.weight
            else:
                continue
            was = ref.get("weight", 1)
            if was == want:
                continue
            path = f"/spec/rules/{index}/backendRefs/{j}"
            ops.append({"op": "test", "path": f"{path}/name", "value": ref["name"]})
            ops.append({"op": "add", "path": f"{path}/weight", "value": want})
            changes.append(
                f"{label} {_rule_label(rule, index)}: {ref['name']} weight {want} (was {was})"
            )

    desired = {
        our_rule_name(h.name): _header_rule(route, indexes, h, wanted)
        for h in wanted.header_routes
        if h.match and indexes
    }
    existing = {str(rule["name"]): i for i, rule in enumerate(rules) if _ours(rule)}
    for name, index in existing.items():
        if name in desired and not _same(rules[index], desired[name]):
            ops.append({"op": "test", "path": f"/spec/rules/{index}/name", "value": name})
            ops.append({"op": "replace", "path": f"/spec/rules/{index}", "value": desired[name]})
            changes.append(f"{label}: header rule {name} put back")
    for name, index in sorted(existing.items(), key=lambda item: -item[1]):
        if name not in desired:
            ops.append({"op": "test", "path": f"/spec/rules/{index}/name", "value": name})
            ops.append({"op": "remove", "path": f"/spec/rules/{index}"})
            changes.append(f"{label}: header rule {name} removed")
    for name, rule in desired.items():
        if name not in existing:
            ops.append({"op": "add", "path": "/spec/rules/-", "value": rule})
            changes.append(f"{label}: header rule {name} added")
    if not ops:
        return RoutePlan()
    guard = {"op": "test", "path": "/metadata/resourceVersion"}
    guard["value"] = route["metadata"].get("resourceVersion", "")
    return RoutePlan(ops=[guard, *ops], changes=changes)


def served(route: Mapping[str, Any], wanted: Wanted) -> bool:
    """Whether the route, read back, says what is wanted and its implementations (if
    any report for it) accepted the current generation."""
    try:
        pending = plan(route, wanted)
    except PlanError:
        return False
    return not pending.ops and status_current(route)


def status_current(route: Mapping[str, Any]) -> bool:
    """Whether every parent (Gateway) whose conditions carry an ``observedGeneration``
    reports ``Accepted`` and ``ResolvedRefs`` true for the route's current generation.

    Parents that report no generation, or no parents at all (no Gateway
    implementation is running), cannot say more than the spec does: True.
    """
    generation = route["metadata"].get("generation")
    for parent in (route.get("status") or {}).get("parents") or []:
        conditions = {c.get("type"): c for c in parent.get("conditions") or []}
        if not any("observedGeneration" in c for c in conditions.values()):
            continue
        for kind in ("Accepted", "ResolvedRefs"):
            condition = conditions.get(kind)
            if condition is None:
                if kind == "Accepted":
                    return False
                continue
            if condition.get("observedGeneration") != generation:
                return False
            if condition.get("status") != "True":
                return False
    return True


def merged(refs: Iterable[tuple[str, str | None]]) -> dict[str, frozenset[str] | None]:
    """Route names to the rule names asked for (None: every rule with both Services),
    from ``(route, rule)`` pairs that may name one route more than once."""
    result: dict[str, frozenset[str] | None] = {}
    for name, rule in refs:
        if name in result and result[name] is None:
            continue
        if rule is None:
            result[name] = None
        else:
            result[name] = (result.get(name) or frozenset()) | {rule}
    return result
