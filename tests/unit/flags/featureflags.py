"""A FeatureFlag object store that applies JSON Patches as the API server does (a fake).

Enough of RFC 6902 for the provider's patches (add, replace, remove), and the
API server's optimistic lock: a patch whose result carries another
resourceVersion than the stored one is a 409 Conflict.
"""

from __future__ import annotations

import copy
import json
from typing import Any


class Conflict(Exception):
    pass


def feature_flag(
    flags: dict[str, Any], *, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "checkout-flags", "namespace": "shop", "resourceVersion": "1"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {
        "apiVersion": "core.openfeature.dev/v1beta1",
        "kind": "FeatureFlag",
        "metadata": meta,
        "spec": {"flagSpec": {"flags": flags}},
    }


def apply_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """``obj`` after ``ops``, stored with the next resourceVersion; raises Conflict."""
    result = copy.deepcopy(obj)
    for op in ops:
        *parents, last = [
            t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]
        ]
        node = result
        for token in parents:
            node = node[token]
        if op["op"] == "remove":
            del node[last]
        elif op["op"] == "replace":
            assert last in node, f"replace of a missing member {op['path']}"
            node[last] = copy.deepcopy(op["value"])
        elif op["op"] == "add":
            node[last] = copy.deepcopy(op["value"])
        else:
            raise AssertionError(f"unexpected op {op}")
    if result["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
        raise Conflict
    result["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
    return result


def records(obj: dict[str, Any]) -> dict[str, Any]:
    raw = (obj["metadata"].get("annotations") or {}).get("landinggear.dev/flag-restore")
    return json.loads(raw) if raw else {}
