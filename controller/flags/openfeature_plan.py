"""What switching an OpenFeature flag off, or restoring it, changes in its ``FeatureFlag`` (pure).

A ``FeatureFlag`` (``core.openfeature.dev/v1beta1``) holds its flags in
``spec.flagSpec.flags.<key>`` = ``{state, variants, defaultVariant, targeting?}``.
*Off* is deterministic: ``defaultVariant`` becomes the off variant and
``targeting`` is removed, so every evaluation gets the off variant. (Setting
``state: DISABLED`` would not do: flagd then treats the flag as missing and each
app falls back to its in-code default.)

What was there before is kept on the object itself, in the annotation
``landinggear.dev/flag-restore``: per flag key, the previous ``defaultVariant``
and ``targeting`` and the *holders* — ``<rollout>/<handle>`` of every Rollout
entry that switched it off. A second holder only adds its name (the previous
state stays the one from before the first); a restore removes the holder's
name, and only the last one out puts the previous state back, exactly, and
drops the record. So two Rollouts naming one flag keep it off until both have
restored it, and every operation is idempotent: a holder already in the list,
or one that is not there any more, changes nothing.

The changes are JSON Patch operations that first set ``metadata.resourceVersion``
to the version read: the API server refuses the patch (409) if the object
changed in between, and the provider reads it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from controller.flags import FlagError

RESTORE_ANNOTATION = "landinggear.dev/flag-restore"

Patch = list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The JSON Patch to send (empty: nothing to change) and the flag's state before
    its first holder switched it off."""

    ops: Patch
    previous: dict[str, Any] = field(default_factory=dict)


def holder(rollout: str, handle: str) -> str:
    """How a Rollout's flag entry is named among the holders."""
    return f"{rollout}/{handle}"


def plan_off(obj: dict[str, Any], *, key: str, off_variant: str, holder: str) -> Plan:
    """Switch flag ``key`` of the FeatureFlag ``obj`` off for ``holder``."""
    entry = _flag(obj, key)
    variants = entry.get("variants") or {}
    if off_variant not in variants:
        known = ", ".join(sorted(variants)) or "none"
        raise FlagError(
            f"flag {key} of FeatureFlag {_name(obj)} has no variant {off_variant!r} "
            f"(its variants: {known})"
        )
    records = read_records(obj)
    record = records.get(key) or {"previous": _state(entry), "holders": []}
    holders = sorted({*record["holders"], holder})
    off = {k: v for k, v in entry.items() if k != "targeting"} | {"defaultVariant": off_variant}
    wanted = {**records, key: {"previous": record["previous"], "holders": holders}}
    return Plan(
        ops=_ops(obj, key, entry=entry, wanted_entry=off, records=records, wanted_records=wanted),
        previous=record["previous"],
    )


def plan_restore(obj: dict[str, Any], *, key: str, holder: str) -> Plan:
    """Release ``holder``'s hold on flag ``key``; the last holder out restores it."""
    records = read_records(obj)
    record = records.get(key)
    if record is None or holder not in record["holders"]:
        return Plan(ops=[])  # not held by us (any more): nothing to undo
    flags = _flags(obj)
    entry = flags.get(key)
    holders = [h for h in record["holders"] if h != holder]
    wanted = dict(records)
    if holders:
        wanted[key] = {"previous": record["previous"], "holders": holders}
        back = entry
    else:
        del wanted[key]
        back = None if entry is None else _restored(entry, record["previous"])
    ops = _ops(obj, key, entry=entry, wanted_entry=back, records=records, wanted_records=wanted)
    return Plan(ops=ops, previous=record["previous"])


def read_records(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The restore records of the annotation, per flag key (empty if none)."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(RESTORE_ANNOTATION)
    if not raw:
        return {}
    try:
        records = json.loads(raw)
        if not isinstance(records, dict) or not all(
            isinstance(r, dict)
            and isinstance(r.get("previous"), dict)
            and isinstance(r.get("holders"), list)
            for r in records.values()
        ):
            raise ValueError("not a map of {previous, holders}")
    except ValueError as err:
        raise FlagError(
            f"annotation {RESTORE_ANNOTATION} of FeatureFlag {_name(obj)} is unreadable ({err}); "
            f"fix or remove it by hand"
        ) from err
    return records


def _state(entry: dict[str, Any]) -> dict[str, Any]:
    """What a restore puts back: the default variant and the targeting, if any."""
    state = {"defaultVariant": entry.get("defaultVariant")}
    if "targeting" in entry:
        state["targeting"] = entry["targeting"]
    return state


def _restored(entry: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    back = {k: v for k, v in entry.items() if k != "targeting"}
    back["defaultVariant"] = previous.get("defaultVariant")
    if "targeting" in previous:
        back["targeting"] = previous["targeting"]
    return back


def _ops(
    obj: dict[str, Any],
    key: str,
    *,
    entry: dict[str, Any] | None,
    wanted_entry: dict[str, Any] | None,
    records: dict[str, Any],
    wanted_records: dict[str, Any],
) -> Patch:
    ops: Patch = []
    if wanted_entry is not None and wanted_entry != entry:
        path = f"/spec/flagSpec/flags/{_pointer(key)}"
        ops.append({"op": "replace", "path": path, "value": wanted_entry})
    if wanted_records != records:
        annotations = (obj.get("metadata") or {}).get("annotations")
        member = f"/metadata/annotations/{_pointer(RESTORE_ANNOTATION)}"
        text = json.dumps(wanted_records, sort_keys=True, separators=(",", ":"))
        if not wanted_records:
            ops.append({"op": "remove", "path": member})
        elif not annotations:
            ops.append({"op": "add", "path": "/metadata/annotations", "value": {
                RESTORE_ANNOTATION: text}})  # fmt: skip
        else:
            ops.append({"op": "add", "path": member, "value": text})
    if not ops:
        return []
    version = (obj.get("metadata") or {}).get("resourceVersion", "")
    precondition = {"op": "replace", "path": "/metadata/resourceVersion", "value": version}
    return [precondition, *ops]


def _flags(obj: dict[str, Any]) -> dict[str, Any]:
    flags = ((obj.get("spec") or {}).get("flagSpec") or {}).get("flags")
    return flags if isinstance(flags, dict) else {}


def _flag(obj: dict[str, Any], key: str) -> dict[str, Any]:
    entry = _flags(obj).get(key)
    if not isinstance(entry, dict):
        raise FlagError(f"FeatureFlag {_name(obj)} has no flag {key!r}")
    return entry


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _pointer(token: str) -> str:
    """A JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")
