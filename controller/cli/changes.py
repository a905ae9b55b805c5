"""What the changing verbs send, and when they refuse: pure functions of the Rollout.

``pause``/``resume`` merge-patch ``spec.paused``; ``promote``, ``abort``,
``retry``, ``rollback``, ``flags-off`` and ``flags-restore`` (``landinggear flags
off|restore``) write a one-shot request annotation the controller acts on once.
Every verb also records an ``events.k8s.io/v1`` Event naming the user, so
``kubectl events`` shows who asked for what.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from controller.api.wire import API_VERSION, KIND
from controller.cli.flags import flags_refusal
from controller.core.world import Request, Verb, parse_requests, request_annotation
from controller.kube.objects import KubeObject

__all__ = [
    "CHANGING_VERBS",
    "REPORTING_CONTROLLER",
    "confirmation",
    "event_for",
    "finished",
    "outcome",
    "paused_patch",
    "pending_request",
    "pending_requests",
    "refusal",
    "request_patch",
]

REPORTING_CONTROLLER = "landinggear.dev/cli"
CHANGING_VERBS = (
    "promote", "pause", "resume", "abort", "retry", "rollback", "flags-off", "flags-restore",
)  # fmt: skip
FLAG_VERBS = ("flags-off", "flags-restore")
"""The verbs of ``landinggear flags off|restore``: requests naming feature flags."""
_NOTE_LIMIT = 1024


def _key(rollout: KubeObject) -> str:
    meta = rollout.get("metadata") or {}
    return f"rollout {meta.get('namespace', '')}/{meta.get('name', '')}"


def pending_requests(rollout: KubeObject) -> list[Request]:
    """The requests on ``rollout`` that the controller has not acted on yet, oldest first."""
    annotations = (rollout.get("metadata") or {}).get("annotations") or {}
    handled = (rollout.get("status") or {}).get("handledRequests") or {}
    requests, _ = parse_requests(annotations)
    return [r for r in requests if r.id != handled.get(r.verb.value)]


def pending_request(verb: str, rollout: KubeObject) -> Request | None:
    """The ``verb`` request on ``rollout`` that the controller has not acted on yet."""
    return next((r for r in pending_requests(rollout) if r.verb.value == verb), None)


def outcome(verb: str, request_id: str, rollout: KubeObject) -> str | None:
    """Once the controller has acted on the ``verb`` request ``request_id``: what the
    Rollout says now (``Degraded: RolledBack by alice …``); None before."""
    status = rollout.get("status") or {}
    if (status.get("handledRequests") or {}).get(verb) != request_id:
        return None
    phase, message = status.get("phase") or "Unknown", status.get("message") or ""
    return f"{phase}" + (f": {message}" if message else "")


def finished(verb: str, rollout: KubeObject) -> bool:
    """Whether what a handled ``verb`` request started is over: a rollback once the
    previous revision serves again; every other verb at once (an abort's canary
    revision is cleared in the same write that handles it)."""
    return verb != "rollback" or not (rollout.get("status") or {}).get("rollingBackTo")


def refusal(verb: str, rollout: KubeObject, *, flags: Sequence[str] = ()) -> str | None:
    """Why ``verb`` (of the feature flags ``flags``, for ``flags-off`` and
    ``flags-restore``; none: all) cannot apply to ``rollout`` as it stands, or None."""
    if verb in FLAG_VERBS:
        pending = pending_request("flags-off", rollout)
        return flags_refusal(verb, rollout, flags, pending=pending, key=_key(rollout))
    status = rollout.get("status") or {}
    paused = bool((rollout.get("spec") or {}).get("paused"))
    canary = status.get("canaryRevision")
    key = _key(rollout)
    checks: dict[str, list[tuple[bool, str]]] = {
        "pause": [(paused, f"{key} is already paused")],
        "resume": [(not paused, f"{key} is not paused")],
        "promote": [(not canary, f"{key} has no canary running: nothing to promote")],
        "abort": [(not canary, f"{key} has no canary running: nothing to abort")],
        "retry": [(not status.get("blockedRevision"), f"{key} has no blocked revision to retry")],
        "rollback": [
            (bool(canary), f"{key} has canary {canary} running: abort it instead of rolling back"),
            (
                bool(status.get("rollingBackTo")),
                f"{key} is already rolling back to {status.get('rollingBackTo')}",
            ),
            (
                not status.get("previousStableRevision"),
                f"{key} has no previous stable revision to roll back to",
            ),
        ],
    }
    return next((message for refused, message in checks.get(verb, []) if refused), None)


def paused_patch(paused: bool) -> KubeObject:
    """Merge patch for ``pause`` (True) and ``resume`` (False)."""
    return {"spec": {"paused": paused}}


def request_patch(
    verb: str,
    *,
    request_id: str,
    by: str,
    at: datetime,
    full: bool = False,
    reason: str = "",
    keep_flags_off: bool = False,
    flags: Sequence[str] = (),
) -> KubeObject:
    """Merge patch writing the one-shot request annotation for ``verb``."""
    request = Request(
        verb=Verb(verb),
        id=request_id,
        by=by,
        at=at.astimezone(UTC),
        full=full,
        reason=reason,
        keep_flags_off=keep_flags_off,
        flags=tuple(flags),
    )
    key, value = request_annotation(request)
    return {"metadata": {"annotations": {key: value}}}


def _what(verb: str, *, full: bool, flags: Sequence[str] = ()) -> str:
    if verb in FLAG_VERBS:
        which = ", ".join(flags) if flags else "every flag"
        return f"{verb.replace('-', ' ')} ({which})"
    return f"full {verb}" if full else verb


def event_for(
    rollout: KubeObject,
    *,
    verb: str,
    user: str,
    at: datetime,
    suffix: str,
    instance: str,
    full: bool = False,
    reason: str = "",
    flags: Sequence[str] = (),
    controller: str = REPORTING_CONTROLLER,
    warning: bool = False,
) -> KubeObject:
    """The ``events.k8s.io/v1`` Event recording that ``user`` ran ``verb`` on ``rollout``
    (``controller``: who reports it; ``warning``: a refused request, noted as such)."""
    meta = rollout.get("metadata") or {}
    what = _what(verb, full=full, flags=flags)
    note = f"{user} requested {what}" + (f": {reason}" if reason else "")
    if warning:
        note = f"refused: {note}"
    if len(note) > _NOTE_LIMIT:
        note = note[: _NOTE_LIMIT - 3] + "..."
    regarding: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": f"{str(meta.get('name'))[:200]}.{suffix}",
            "namespace": meta.get("namespace"),
        },
        "eventTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingController": controller,
        "reportingInstance": instance[:128],
        "action": verb,
        "reason": "".join(word.capitalize() for word in verb.split("-"))
        + ("Refused" if warning else "Requested"),
        "regarding": {k: v for k, v in regarding.items() if v},
        "note": note,
        "type": "Warning" if warning else "Normal",
    }


def confirmation(
    verb: str, rollout: KubeObject, *, user: str, full: bool = False, flags: Sequence[str] = ()
) -> str:
    """The line a changing verb prints once its change is stored."""
    key = _key(rollout)
    if verb == "pause":
        return f"Paused {key} (as {user})"
    if verb == "resume":
        return f"Resumed {key} (as {user})"
    line = f"Requested {_what(verb, full=full, flags=flags)} of {key} (as {user})"
    if verb in FLAG_VERBS:
        name = (rollout.get("metadata") or {}).get("name", "")
        line += f"; `landinggear flags {name}` shows when each is confirmed"
    return line
