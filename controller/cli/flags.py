"""``landinggear flags``: a Rollout's feature flags and their state, and when
``flags off`` / ``flags restore`` refuse (pure).

Reads the Rollout as the API server returns it: the declared flags
(``spec.featureFlags``) joined with what the controller wants and its provider
confirmed (``status.featureFlags``). A flag whose wanted state is not confirmed
is marked, and the ``FlagsPending`` condition's message follows the table. A
flag switched off by hand says so in its WANTED column (``Off (by hand)``): only
``flags restore`` puts it back.

``flags off`` and ``flags restore`` write ``flags-off`` / ``flags-restore``
requests (:mod:`controller.cli.changes`). A request of the same verb that the
controller has not acted on yet is merged into the new one rather than replaced,
so a second ``flags off`` while the controller is down or busy never drops the
first one's flags (the merged request is attributed to the later user; both
users' Events remain).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from controller.cli.text import age, table
from controller.core.world import MANUAL, Request
from controller.kube.objects import KubeObject

__all__ = ["flags_refusal", "flags_table", "merged_flags", "pending_banner"]

_PROVIDERS = ("openFeature", "unleash", "launchDarkly", "webhook")
_ALL_TRIGGERS = ["Abort", "Rollback", "GuardFailure"]


def _target(flag: dict[str, Any]) -> tuple[str, str]:
    for provider in _PROVIDERS:
        settings = flag.get(provider)
        if not isinstance(settings, dict):
            continue
        if provider == "openFeature":
            return provider, f"{settings.get('featureFlag')}/{settings.get('flag')}"
        if provider == "unleash":
            return provider, f"{settings.get('project', 'default')}/{settings.get('feature')}"
        if provider == "launchDarkly":
            return provider, f"{settings.get('project')}/{settings.get('flag')}"
        return provider, str(settings.get("url"))
    return "-", "-"


def pending_banner(rollout: KubeObject) -> str | None:
    """The ``FlagsPending`` condition's message while it is True, loudly; else None."""
    for condition in (rollout.get("status") or {}).get("conditions") or []:
        if (
            isinstance(condition, dict)
            and condition.get("type") == "FlagsPending"
            and condition.get("status") == "True"
        ):
            return f"FLAGS PENDING: {condition.get('message') or 'not confirmed yet'}"
    return None


def flags_table(rollout: KubeObject, now: datetime) -> str:
    """Per declared flag: provider, target, what switches it, wanted / confirmed, since, error."""
    declared = [
        f for f in (rollout.get("spec") or {}).get("featureFlags") or [] if isinstance(f, dict)
    ]
    states = {
        s.get("name"): s
        for s in (rollout.get("status") or {}).get("featureFlags") or []
        if isinstance(s, dict)
    }
    meta = rollout.get("metadata") or {}
    if not declared:
        return f"Rollout {meta.get('namespace')}/{meta.get('name')} declares no feature flags."
    rows = []
    for flag in declared:
        provider, target = _target(flag)
        status = states.get(flag.get("name")) or {}
        wanted = status.get("wanted")
        confirmed = status.get("state")
        mark = " !" if wanted and wanted != confirmed else ""
        if _by_hand(status):
            mark = f" (by hand){mark}"
        since = status.get("changedAt") if confirmed else None
        attempts = status.get("attempts") or 0
        error = status.get("lastError") or ""
        rows.append(
            (
                str(flag.get("name")),
                provider,
                target,
                ",".join(flag.get("disableOn") or _ALL_TRIGGERS),
                f"{wanted or 'untouched'}{mark}",
                str(confirmed or "-"),
                age(since, now) if since else "-",
                f"{attempts} failed: {error}" if attempts else "",
            )
        )
    heading = ("FLAG", "PROVIDER", "TARGET", "DISABLE ON", "WANTED", "CONFIRMED", "SINCE", "ERROR")
    text = table(heading, rows)
    banner = pending_banner(rollout)
    return f"{text}\n\n{banner}" if banner else text


def _declared(rollout: KubeObject) -> list[str]:
    flags = (rollout.get("spec") or {}).get("featureFlags") or []
    return [str(f.get("name")) for f in flags if isinstance(f, dict)]


def _states(rollout: KubeObject) -> dict[str, dict[str, Any]]:
    entries = (rollout.get("status") or {}).get("featureFlags") or []
    return {str(e.get("name")): e for e in entries if isinstance(e, dict)}


def _by_hand(entry: dict[str, Any]) -> bool:
    return entry.get("wanted") == "Off" and str(entry.get("reason", "")).startswith(f"{MANUAL}: ")


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names)


def flags_refusal(
    verb: str, rollout: KubeObject, names: Sequence[str], *, pending: Request | None, key: str
) -> str | None:
    """Why ``flags-off`` / ``flags-restore`` of ``names`` (none: all) cannot apply to
    ``rollout``, or None if it can. ``pending``: the unhandled ``flags-off`` request,
    whose flags count as off for a restore."""
    declared = _declared(rollout)
    doing = "switch off" if verb == "flags-off" else "restore"
    if not declared:
        return f"{key} declares no feature flags: nothing to {doing}"
    unknown = [n for n in names if n not in declared]
    if unknown:
        return f"{key} declares no flag named {_listed(unknown)} (declared: {_listed(declared)})"
    states = _states(rollout)
    targets = list(names) or declared
    if verb == "flags-off":
        done = [n for n in targets if _by_hand(states.get(n) or {})]
        return f"{_listed(done)} of {key} already switched off by hand" if done == targets else None
    queued = set(pending.flags or declared) if pending is not None else set()
    if any((states.get(n) or {}).get("wanted") == "Off" or n in queued for n in targets):
        return None
    if not names:
        return f"no feature flag of {key} is switched off: nothing to restore"
    verb_form = "is" if len(names) == 1 else "are"
    return f"{_listed(names)} of {key} {verb_form} not switched off: nothing to restore"


def merged_flags(names: Sequence[str], pending: Request | None) -> tuple[str, ...]:
    """The flags of a new request of ``pending``'s verb: ``names`` and the flags of the
    request it replaces before the controller acted on it (none named: all)."""
    if pending is None:
        return tuple(names)
    if not names or not pending.flags:
        return ()
    return tuple(dict.fromkeys([*pending.flags, *names]))
