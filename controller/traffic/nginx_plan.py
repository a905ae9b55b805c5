"""The NGINX router's plan: the canary Ingress wanted, from the stable one (pure).

ingress-nginx splits traffic with a second Ingress for the same hosts and paths,
marked ``nginx.ingress.kubernetes.io/canary: "true"``, whose ``canary-weight``
percent of requests go to its backends. The user's stable Ingress is never
changed; the controller creates and owns the canary Ingress
``<rollout>-<stableIngress>-canary`` and derives all of it from the stable one on
every reconcile:

- ``spec.ingressClassName`` and ``spec.tls`` copied;
- the rules whose paths send requests to ``stableService``, each keeping only
  those paths, with the backend changed to ``canaryService`` (a canary Ingress
  for a path served by another Service would only split that Service with
  itself, so such paths are left out, as are rules left with no path);
- the stable's annotations, except ingress-nginx canary ones (and
  ``kubectl.kubernetes.io/last-applied-configuration``), then
  ``additionalIngressAnnotations`` (``nginx.ingress.kubernetes.io/`` put before a
  key without a prefix), then what the controller decides: ``canary``,
  ``canary-weight``, ``canary-weight-total: "100"`` and, for a header route,
  ``canary-by-header`` with ``canary-by-header-value`` (exact) or
  ``canary-by-header-pattern`` (regex);
- the label ``app.kubernetes.io/managed-by: landinggear`` and an owner
  reference to the Rollout.

:func:`patch` turns the observed canary Ingress into the wanted one with a JSON
merge patch of only what differs (annotations and spec; our label), or says
nothing differs.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.api import v1alpha1
from controller.api.routing import SetHeaderRoute

__all__ = [
    "CANARY",
    "CANARY_WEIGHT",
    "MANAGED_BY",
    "PREFIX",
    "CanaryIngress",
    "canary_name",
    "changes",
    "desired",
    "merge",
    "owned_by",
    "patch",
    "stable_problem",
    "weight_of",
]

PREFIX = "nginx.ingress.kubernetes.io/"
CANARY = PREFIX + "canary"
CANARY_WEIGHT = PREFIX + "canary-weight"
CANARY_WEIGHT_TOTAL = PREFIX + "canary-weight-total"
BY_HEADER = PREFIX + "canary-by-header"
BY_HEADER_VALUE = PREFIX + "canary-by-header-value"
BY_HEADER_PATTERN = PREFIX + "canary-by-header-pattern"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "landinggear"
SUFFIX = "-canary"
MAX_NAME = 253


def canary_name(rollout: str, stable_ingress: str) -> str:
    """``<rollout>-<stableIngress>-canary``; when that is longer than an object name may
    be, the front is cut and a hash of the full name keeps it distinct."""
    base = f"{rollout}-{stable_ingress}"
    if len(base) + len(SUFFIX) <= MAX_NAME:
        return base + SUFFIX
    digest = hashlib.sha256(base.encode()).hexdigest()[:10]
    keep = MAX_NAME - len(SUFFIX) - len(digest) - 1
    return f"{base[:keep].rstrip('-.')}-{digest}{SUFFIX}"


@dataclass(frozen=True, kw_only=True)
class CanaryIngress:
    """What the canary Ingress is made from, besides the stable Ingress."""

    namespace: str
    rollout: str
    rollout_uid: str
    stable_ingress: str
    stable_service: str
    canary_service: str
    additional_annotations: Mapping[str, str] = field(default_factory=dict)
    header_routes: Sequence[SetHeaderRoute] = ()
    """ingress-nginx honours one ``canary-by-header``: the first route is used."""

    @property
    def name(self) -> str:
        return canary_name(self.rollout, self.stable_ingress)


def _paths(rule: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((rule.get("http") or {}).get("paths")) or [])


def _service(path: Mapping[str, Any]) -> str | None:
    service = ((path.get("backend") or {}).get("service")) or {}
    name = service.get("name")
    return str(name) if name else None


def stable_problem(stable: Mapping[str, Any], spec: CanaryIngress) -> str | None:
    """Why the stable Ingress cannot be cloned (no path sends to ``stableService``)."""
    for rule in (stable.get("spec") or {}).get("rules") or []:
        if any(_service(p) == spec.stable_service for p in _paths(rule)):
            return None
    return (
        f"Ingress {spec.namespace}/{spec.stable_ingress} has no path whose backend is "
        f"Service {spec.stable_service} (stableService): point a path of it at that Service"
    )


def _annotation_key(key: str) -> str:
    return key if "/" in key else PREFIX + key


def _annotations(stable: Mapping[str, Any], spec: CanaryIngress, weight: int) -> dict[str, str]:
    found = (stable.get("metadata") or {}).get("annotations") or {}
    wanted = {k: str(v) for k, v in found.items() if not k.startswith(CANARY) and k != LAST_APPLIED}
    for key, value in spec.additional_annotations.items():
        wanted[_annotation_key(key)] = value
    if spec.header_routes and spec.header_routes[0].match:
        match = spec.header_routes[0].match[0]
        for key in (BY_HEADER, BY_HEADER_VALUE, BY_HEADER_PATTERN):
            wanted.pop(key, None)
        wanted[BY_HEADER] = match.header_name
        if match.header_value.regex is not None:
            wanted[BY_HEADER_PATTERN] = match.header_value.regex
        else:
            wanted[BY_HEADER_VALUE] = match.header_value.exact or ""
    wanted[CANARY] = "true"
    wanted[CANARY_WEIGHT] = str(weight)
    wanted[CANARY_WEIGHT_TOTAL] = "100"
    return wanted


def _spec(stable: Mapping[str, Any], spec: CanaryIngress) -> dict[str, Any]:
    found = stable.get("spec") or {}
    rules = []
    for rule in found.get("rules") or []:
        paths = []
        for path in _paths(rule):
            if _service(path) != spec.stable_service:
                continue
            cloned = copy.deepcopy(path)
            cloned["backend"]["service"]["name"] = spec.canary_service
            paths.append(cloned)
        if not paths:
            continue
        kept = {k: copy.deepcopy(v) for k, v in rule.items() if k != "http"}
        kept["http"] = {**copy.deepcopy(rule["http"]), "paths": paths}
        rules.append(kept)
    wanted: dict[str, Any] = {"rules": rules}
    if found.get("ingressClassName"):
        wanted["ingressClassName"] = found["ingressClassName"]
    if found.get("tls"):
        wanted["tls"] = copy.deepcopy(found["tls"])
    return wanted


def desired(stable: Mapping[str, Any], spec: CanaryIngress, weight: int) -> dict[str, Any]:
    """The whole canary Ingress for ``weight`` percent (the body of its creation)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": {MANAGED_BY: MANAGER},
            "annotations": _annotations(stable, spec, weight),
            "ownerReferences": [
                {
                    "apiVersion": v1alpha1.API_VERSION,
                    "kind": v1alpha1.KIND,
                    "name": spec.rollout,
                    "uid": spec.rollout_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": _spec(stable, spec),
    }


def owned_by(observed: Mapping[str, Any], rollout_uid: str) -> bool:
    """Whether ``observed`` is controlled by the Rollout of ``rollout_uid``."""
    refs = (observed.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == rollout_uid and r.get("controller") for r in refs)


def _diff(observed: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch setting ``wanted``'s keys and removing the other keys of
    ``observed`` (one level: values are replaced whole)."""
    out: dict[str, Any] = {k: v for k, v in wanted.items() if observed.get(k) != v}
    out.update({k: None for k in observed if k not in wanted})
    return out


def patch(observed: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON merge patch making ``observed`` (our canary Ingress) what ``wanted``
    says in the fields we own — every annotation, our label, the spec — guarded by
    ``observed``'s resourceVersion; None when nothing differs."""
    meta = observed.get("metadata") or {}
    want_meta = wanted["metadata"]
    body: dict[str, Any] = {}
    annotations = _diff(meta.get("annotations") or {}, want_meta["annotations"])
    labels = {
        k: v for k, v in want_meta["labels"].items() if (meta.get("labels") or {}).get(k) != v
    }
    if annotations or labels:
        body["metadata"] = {}
        if annotations:
            body["metadata"]["annotations"] = annotations
        if labels:
            body["metadata"]["labels"] = labels
    spec = _diff(observed.get("spec") or {}, wanted["spec"])
    if spec:
        body["spec"] = spec
    if not body:
        return None
    body.setdefault("metadata", {})["resourceVersion"] = meta.get("resourceVersion")
    return body


def merge(target: Any, body: Any) -> Any:
    """RFC 7386 JSON merge patch ``body`` applied to ``target`` (a new value)."""
    if not isinstance(body, Mapping):
        return copy.deepcopy(body)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in body.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def weight_of(observed: Mapping[str, Any]) -> int | None:
    """The canary weight ``observed`` carries (None: not a canary Ingress, or unreadable)."""
    annotations = (observed.get("metadata") or {}).get("annotations") or {}
    if annotations.get(CANARY) != "true":
        return None
    try:
        return int(annotations.get(CANARY_WEIGHT, ""))
    except ValueError:
        return None


def changes(observed: Mapping[str, Any] | None, body: Mapping[str, Any]) -> list[str]:
    """What ``body`` (a creation or a merge patch) changes, in words."""
    name = (body.get("metadata") or {}).get("name") or ((observed or {}).get("metadata") or {}).get(
        "name"
    )
    if observed is None:
        weight = body["metadata"]["annotations"][CANARY_WEIGHT]
        return [f"canary Ingress {name} created at weight {weight}"]
    said = []
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    was = (observed.get("metadata") or {}).get("annotations") or {}
    for key, value in sorted(annotations.items()):
        short = key.removeprefix(PREFIX)
        if value is None:
            said.append(f"canary Ingress {name}: annotation {short} removed")
        else:
            said.append(f"canary Ingress {name}: {short} {value} (was {was.get(key, 'unset')})")
    if (body.get("metadata") or {}).get("labels"):
        said.append(f"canary Ingress {name}: label {MANAGED_BY} set")
    for key in sorted(body.get("spec") or {}):
        said.append(f"canary Ingress {name}: spec.{key} synced with the stable Ingress")
    return said
