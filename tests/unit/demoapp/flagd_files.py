"""flagd documents for tests, shaped like an OpenFeature ``FeatureFlag``'s ``flagSpec``."""

from __future__ import annotations

import copy
from typing import Any

TARGETING: dict[str, Any] = {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on", "off"]}
"""On for example.com addresses only: a JSON-logic rule using one of flagd's operators."""


def flag_document(
    *, default: str = "on", state: str = "ENABLED", targeting: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A flagd document with ``new-checkout`` (boolean) and an unrelated string flag."""
    checkout: dict[str, Any] = {
        "state": state,
        "variants": {"on": True, "off": False},
        "defaultVariant": default,
    }
    if targeting is not None:
        checkout["targeting"] = copy.deepcopy(targeting)
    return {
        "flags": {
            "new-checkout": checkout,
            "colour": {"state": "ENABLED", "variants": {"a": "red"}, "defaultVariant": "a"},
        },
        "$evaluators": {},
    }


def switched_off(document: dict[str, Any], flag: str = "new-checkout") -> dict[str, Any]:
    """What Landing Gear's OpenFeature switch does to the CR: off variant, no targeting."""
    off = copy.deepcopy(document)
    off["flags"][flag]["defaultVariant"] = "off"
    off["flags"][flag].pop("targeting", None)
    return off
