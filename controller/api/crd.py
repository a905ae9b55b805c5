"""Generate the Rollout CRD from the pydantic models (one source of truth).

``python -m controller.api.crd > manifests/crds/rollouts.landinggear.dev.yaml``
rewrites the checked-in manifest; a test fails when it is stale.

pydantic's JSON Schema is turned into a Kubernetes *structural* schema: ``$ref``
inlined, ``Optional`` unions collapsed to the non-null branch (an absent field
is how Kubernetes says "none"), ``Literal`` constants as one-value enums, titles
dropped; descriptions, bounds, patterns, defaults of scalars and
``x-kubernetes-validations`` (CEL) kept.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from controller.api import v1alpha1

_DROP = {"title", "$defs"}


def _structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express union {schema['anyOf']} structurally")
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return _structural({**branches[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP:
            continue
        if key == "default" and (isinstance(value, dict | list) or value is None):
            continue  # objects default through their fields' defaults
        if key == "const":
            out["enum"] = [value]
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema 2020-12 (pydantic) puts the bound here; OpenAPI 3.0 wants
            # the bound in minimum/maximum and a boolean flag.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
            continue
        if key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value, defs)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string" if all(isinstance(v, str) for v in out["enum"]) else "integer"
    if "properties" in out or "additionalProperties" in out:
        out.setdefault("type", "object")
    return out


def openapi_schema(model: type[v1alpha1._Model]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def _status_schema() -> dict[str, Any]:
    schema = openapi_schema(v1alpha1.RolloutStatus)
    conditions = schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    handled = schema["properties"]["handledRequests"]["additionalProperties"]
    handled["maxLength"] = v1alpha1.MAX_REQUEST_ID
    return schema


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Weight", "type": "integer", "jsonPath": ".status.canaryWeight"},
    {"name": "Step", "type": "string", "jsonPath": ".status.stepProgress"},
    {"name": "Stable", "type": "string", "jsonPath": ".status.stableRevision"},
    {"name": "Canary", "type": "string", "jsonPath": ".status.canaryRevision"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


NAME_RULE = {
    "rule": "self.metadata.name.size() <= 63",
    "message": "a Rollout's name is at most 63 characters: it is the value of the "
    "landinggear.dev/rollout label on its ReplicaSets and pods",
}
"""Kubernetes names may be 253 characters long, label values 63: a longer Rollout would
be accepted and then fail at its first ReplicaSet, so the API server refuses it."""


def custom_resource_definition() -> dict[str, Any]:
    """The full ``CustomResourceDefinition`` object for Rollouts."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{v1alpha1.PLURAL}.{v1alpha1.GROUP}"},
        "spec": {
            "group": v1alpha1.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": v1alpha1.KIND,
                "listKind": f"{v1alpha1.KIND}List",
                "plural": v1alpha1.PLURAL,
                "singular": v1alpha1.SINGULAR,
                "shortNames": list(v1alpha1.SHORT_NAMES),
                "categories": ["landinggear"],
            },
            "versions": [
                {
                    "name": v1alpha1.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A canary release of a Deployment's pod template.",
                            "required": ["spec"],
                            "x-kubernetes-validations": [NAME_RULE],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": openapi_schema(v1alpha1.RolloutSpec),
                                "status": _status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes a schema that several fields share (a Secret reference) out in full at each
    place, never as a YAML anchor and alias: the manifest reads like any other CRD."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render() -> str:
    """The CRD as YAML with a header."""
    header = (
        "# Generated by `python -m controller.api.crd` from controller/api/v1alpha1.py.\n"
        "# Do not edit: change the models and regenerate.\n"
    )
    body = yaml.dump(custom_resource_definition(), Dumper=_Dumper, sort_keys=False, width=100)
    return header + body


if __name__ == "__main__":
    sys.stdout.write(render())
