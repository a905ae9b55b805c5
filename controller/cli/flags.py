"""``landinggear flags NAME``: a Rollout's feature flags and their state (pure rendering).

Reads the Rollout as the API server returns it: the declared flags
(``spec.featureFlags``) joined with what the controller wants and its provider
confirmed (``status.featureFlags``). A flag whose wanted state is not confirmed
is marked, and the ``FlagsPending`` condition's message follows the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controller.cli.text import age, table
from controller.kube.objects import KubeObject

__all__ = ["flags_table", "pending_banner"]

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
