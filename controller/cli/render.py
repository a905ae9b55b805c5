"""Rollouts as text for ``get``, ``list`` and ``history``: pure functions of the objects.

Everything reads the object as the API server returns it (a dict) and tolerates
missing fields, so a Rollout the controller has not yet seen still renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from controller.api.wire import Stage, Verdict
from controller.api.wire import step_progress as progress
from controller.cli.changes import pending_requests
from controller.cli.flags import pending_banner
from controller.cli.text import age, table, timestamp
from controller.core.world import Request
from controller.kube.objects import KubeObject

__all__ = [
    "analysis_rows",
    "analysis_title",
    "describe_step",
    "history_table",
    "rollout_table",
    "step_progress",
    "summary",
]

SUMMARY_HISTORY = 5
"""How many of the newest history entries ``get`` shows."""


def _status(rollout: KubeObject) -> dict[str, Any]:
    status = rollout.get("status")
    return status if isinstance(status, dict) else {}


def _steps(rollout: KubeObject) -> list[dict[str, Any]]:
    return [s for s in _canary(rollout).get("steps") or [] if isinstance(s, dict)]


def _key(rollout: KubeObject) -> str:
    meta = rollout.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def describe_step(step: dict[str, Any]) -> str:
    """One step in words: ``set weight 20%``, ``pause 5m``, ``pause until promoted``."""
    if step.get("setWeight") is not None:
        return f"set weight {step['setWeight']}%"
    if "pause" in step:
        duration = (step.get("pause") or {}).get("duration")
        return f"pause {duration}" if duration else "pause until promoted"
    if "analysis" in step:
        gate = step.get("analysis") or {}
        names = ", ".join(str(n) for n in gate.get("metrics") or []) or "all metrics"
        return f"analysis: wait for {names} to pass (at most {gate.get('maxDuration', '10m')})"
    if "setHeaderRoute" in step:
        return _header_route(step.get("setHeaderRoute") or {})
    if "setCanaryScale" in step:
        return _canary_scale(step.get("setCanaryScale") or {})
    return "unknown step"


def _header_route(route: dict[str, Any]) -> str:
    match = route.get("match") or []
    if not match:
        return f"remove header route {route.get('name')}"
    return f"header route {route.get('name')}: {_header_match(match)} to the canary"


def _canary_scale(scale: dict[str, Any]) -> str:
    if scale.get("replicas") is not None:
        return f"canary scale {scale['replicas']} pods"
    if scale.get("weight") is not None:
        return f"canary scale {scale['weight']}% of replicas"
    return "canary scale follows the weight"


def _header_match(match: list[dict[str, Any]]) -> str:
    """``x-beta = 1 and x-user ~ ^qa-`` for a header route's matches."""
    parts = []
    for m in match:
        value = m.get("headerValue") or {}
        for kind, sign in (("exact", "="), ("prefix", "^="), ("regex", "~")):
            if value.get(kind) is not None:
                parts.append(f"{m.get('headerName')} {sign} {value[kind]}")
    return " and ".join(parts)


def _canary(rollout: KubeObject) -> dict[str, Any]:
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    return canary if isinstance(canary, dict) else {}


def _router_kind(rollout: KubeObject) -> str | None:
    """``gatewayAPI``, ``nginx``, …; None when the replica ratio splits the traffic."""
    return next(iter(_canary(rollout).get("trafficRouting") or {}), None)


def _router(rollout: KubeObject) -> str:
    """``gatewayAPI (web-stable / web-canary)``, or ``replica ratio``."""
    canary, kind = _canary(rollout), _router_kind(rollout)
    if kind is None:
        return "replica ratio"
    return f"{kind} ({canary.get('stableService')} / {canary.get('canaryService')})"


def step_progress(rollout: KubeObject) -> str:
    """``2/4`` while a canary runs at its second of four steps, else ``-``."""
    index = _status(rollout).get("currentStepIndex")
    return _text(progress(index if isinstance(index, int) else None, len(_steps(rollout))))


def _weight(rollout: KubeObject) -> str:
    return f"{_status(rollout).get('canaryWeight') or 0}%"


def summary(rollout: KubeObject, now: datetime) -> str:
    """The human view of one Rollout for ``get``."""
    meta = rollout.get("metadata") or {}
    spec = rollout.get("spec") or {}
    status = _status(rollout)
    fields: list[tuple[str, str]] = [
        ("Name", _text(meta.get("name"))),
        ("Namespace", _text(meta.get("namespace"))),
        ("Workload", f"Deployment/{_text((spec.get('workloadRef') or {}).get('name'))}"),
        ("Phase", _text(status.get("phase") or "Unknown (not yet seen by the controller)")),
        ("Message", _text(status.get("message"))),
    ]
    banner = pending_banner(rollout)
    if banner:
        fields.append(("Flags", f"{banner} (landinggear flags {meta.get('name')})"))
    fields += [("Requested", _pending(request, now)) for request in pending_requests(rollout)]
    if spec.get("paused"):
        fields.append(("Paused", "yes (landinggear resume continues)"))
    fields += [
        ("Step", step_progress(rollout)),
        ("Canary weight", _weight(rollout)),
        ("Traffic", _router(rollout)),
        ("Replicas", f"{status.get('replicas') or 0} desired"),
        ("Stable", _revision(status.get("stableRevision"), status.get("stableReadyReplicas"))),
        ("Canary", _revision(status.get("canaryRevision"), status.get("canaryReadyReplicas"))),
    ]
    headers = status.get("headerRoutes") or []
    if headers:
        described = "; ".join(
            f"{h.get('name')}: {_header_match(h.get('match') or [])}" for h in headers
        )
        fields.append(("Header routes", described))
    if status.get("previousStableRevision"):
        fields.append(("Previous stable", str(status["previousStableRevision"])))
    if status.get("blockedRevision"):
        fields.append(("Blocked", f"{status['blockedRevision']} (landinggear retry releases it)"))
    if status.get("rollingBackTo"):
        fields.append(("Rolling back to", str(status["rollingBackTo"])))
    width = max(len(label) for label, _ in fields) + 2
    lines = [f"{label + ':':<{width}}{value}" for label, value in fields]
    lines += ["Steps:", *_step_lines(rollout)]
    lines += ["Conditions:", _conditions(status, now)]
    if isinstance(status.get("analysis"), dict):
        lines += [analysis_title(status["analysis"]), analysis_rows(status["analysis"], now)]
    history = [h for h in status.get("history") or [] if isinstance(h, dict)]
    first = max(0, len(history) - SUMMARY_HISTORY)
    shown = len(history) - first
    lines.append(f"History (last {shown} of {len(history)}):" if history else "History:")
    lines.append(_history_rows(history, first, now) if shown else "  <none>")
    return "\n".join(lines)


def _pending(request: Request, now: datetime) -> str:
    """``rollback by alice 40s ago ("bad deploy"): waiting for the controller``."""
    verb = request.verb.value.replace("-", " ")
    if request.flags:
        verb += f" {', '.join(request.flags)}"
    reason = f' ("{request.reason}")' if request.reason else ""
    asked = age(request.at, now)
    return f"{verb} by {request.by} {asked} ago{reason}: waiting for the controller to act"


def analysis_title(analysis: dict[str, Any]) -> str:
    """``Analysis (canary vs stable):``, or the guard's title after a promotion."""
    if analysis.get("stage") != Stage.GUARD:
        return "Analysis (canary vs stable):"
    baseline = _text(analysis.get("baselineRevision"))
    if analysis.get("completed"):
        return f"Guard (new stable vs {baseline}'s baseline): passed"
    return f"Guard (new stable vs {baseline}'s baseline) until {_text(analysis.get('endsAt'))}:"


def analysis_rows(analysis: dict[str, Any], now: datetime) -> str:
    """Per metric: verdict, bad/total per revision (or a rule's value), evidence, what's needed.

    Threshold rules show their latest value and their counts of successful /
    failed / inconclusive / errored measurements instead of request counts.
    """
    metrics = [m for m in analysis.get("metrics") or [] if isinstance(m, dict)]
    if not metrics:
        return "  <none>"

    def share(bad: Any, total: Any) -> str:
        b, t = float(bad or 0), float(total or 0)
        return f"{b:.0f}/{t:.0f}" + (f" ({b / t:.1%})" if t else "")

    def row(m: dict[str, Any]) -> tuple[str, ...]:
        note = str(m.get("reason") or m.get("lastError") or "")
        if m.get("measurements"):
            value = m.get("value")
            return (
                _text(m.get("name")),
                _text(m.get("verdict")),
                f"value {float(value):.4g}" if value is not None else "no data",
                f"{m.get('successful', 0)} ok, {m.get('failed', 0)} failed, "
                f"{m.get('inconclusive', 0)} inc., {m.get('errors', 0)} err.",
                "-",
                "-",
                note,
            )
        needs = m.get("moreCanaryRequestsNeeded") if m.get("verdict") == Verdict.UNDECIDED else None
        return (
            _text(m.get("name")),
            _text(m.get("verdict")),
            share(m.get("canaryBad"), m.get("canaryRequests")),
            share(m.get("stableBad"), m.get("stableRequests")),
            f"{float(m.get('evidence') or 1):.3g}",
            _text(needs) if needs is not None else "-",
            note,
        )

    guard = analysis.get("stage") == Stage.GUARD
    heading = (
        "METRIC",
        "VERDICT",
        "NEW STABLE BAD" if guard else "CANARY BAD",
        "BASELINE BAD" if guard else "STABLE BAD",
        "LR",
        "NEEDS",
        "NOTE",
    )
    looked = age(analysis.get("lastMeasuredAt"), now) if analysis.get("lastMeasuredAt") else "-"
    rows = [row(m) for m in metrics]
    return table(heading, rows, indent="  ") + f"\n  last look: {looked} ago"


def _revision(revision: object, ready: object) -> str:
    if not revision:
        return "-"
    return f"{revision} ({ready or 0} ready)"


def _step_lines(rollout: KubeObject) -> list[str]:
    steps = _steps(rollout)
    if not steps:
        return ["  <none: a ready canary is promoted at once>"]
    current = _status(rollout).get("currentStepIndex")
    return [
        f"{'>' if i == current else ' '} {i + 1}. {describe_step(step)}"
        for i, step in enumerate(steps)
    ]


def _conditions(status: dict[str, Any], now: datetime) -> str:
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    if not conditions:
        return "  <none>"
    rows = [
        (
            _text(c.get("type")),
            _text(c.get("status")),
            _text(c.get("reason")),
            age(c.get("lastTransitionTime"), now),
            str(c.get("message") or ""),
        )
        for c in conditions
    ]
    return table(("TYPE", "STATUS", "REASON", "AGE", "MESSAGE"), rows, indent="  ")


def _history_rows(history: list[dict[str, Any]], first: int, now: datetime) -> str:
    """The entries from index ``first`` on, as the ``history`` table shows revisions."""
    rows = []
    for index in range(first, len(history)):
        h = history[index]
        revision, previous = _revisions(history, index)
        rows.append(
            (
                age(h.get("time"), now),
                _text(h.get("action")),
                _text(revision),
                _text(previous),
                _text(h.get("by")),
                str(h.get("reason") or ""),
            )
        )
    header = ("AGE", "ACTION", "REVISION", "PREVIOUS", "BY", "REASON")
    return table(header, rows, indent="  ")


def rollout_table(
    rollouts: Sequence[KubeObject], now: datetime, *, all_namespaces: bool, wide: bool = False
) -> str:
    """The ``list`` table: one row per Rollout, like ``kubectl get``.

    ``wide`` adds whether it is paused, ready pods of desired, the previous stable
    revision (rollback's target), the traffic router and the message."""
    headers = ["NAME", "PHASE", "WEIGHT", "STEP", "STABLE", "CANARY", "AGE"]
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    if wide:
        headers += ["PAUSED", "READY", "PREVIOUS", "ROUTER", "MESSAGE"]
    rows = []
    for rollout in sorted(rollouts, key=_key):
        meta = rollout.get("metadata") or {}
        status = _status(rollout)
        row = [
            _text(meta.get("name")),
            _text(status.get("phase")),
            _weight(rollout),
            step_progress(rollout),
            _text(status.get("stableRevision")),
            _text(status.get("canaryRevision")),
            age(meta.get("creationTimestamp"), now),
        ]
        if all_namespaces:
            row.insert(0, _text(meta.get("namespace")))
        if wide:
            ready = (status.get("stableReadyReplicas") or 0) + (
                status.get("canaryReadyReplicas") or 0
            )
            paused = "yes" if (rollout.get("spec") or {}).get("paused") else "no"
            row += [
                paused,
                f"{ready}/{status.get('replicas') or 0}",
                _text(status.get("previousStableRevision")),
                _router_kind(rollout) or "replica-ratio",
                _text(status.get("message")),
            ]
        rows.append(row)
    return table(headers, rows)


_ROLLED_BACK_FROM = ("Aborted", "RolledBack")
"""Actions that send the traffic back: the entry's ``revision`` is the one left."""


def _rollback_target(history: list[dict[str, Any]], index: int) -> object:
    """Where the rollback at ``index`` went back to: the stable its revision replaced,
    as the ``Promoted`` entry before it recorded (None if the history no longer has it)."""
    left = history[index].get("revision")
    promoted = (
        h
        for h in reversed(history[:index])
        if h.get("action") == "Promoted" and h.get("revision") == left
    )
    return next((h.get("previousRevision") for h in promoted), None)


def _revisions(history: list[dict[str, Any]], index: int) -> tuple[object, object]:
    """(REVISION, PREVIOUS) of one entry: for an abort or a rollback, the revision the
    traffic went back to and the one it rolled back from; else as recorded."""
    entry = history[index]
    action = entry.get("action")
    if action == "Aborted":
        return entry.get("previousRevision"), entry.get("revision")
    if action == "RolledBack":
        return _rollback_target(history, index), entry.get("revision")
    return entry.get("revision"), entry.get("previousRevision")


def history_table(rollout: KubeObject) -> str:
    """``history``: every recorded action, oldest first, with absolute UTC times.

    REVISION is the revision serving after the action, PREVIOUS the one before it: for
    an abort or a rollback, PREVIOUS is the revision rolled back from."""
    history = [h for h in _status(rollout).get("history") or [] if isinstance(h, dict)]
    rows = []
    for index, h in enumerate(history):
        revision, previous = _revisions(history, index)
        rows.append(
            (
                timestamp(h.get("time")),
                _text(h.get("action")),
                _text(revision),
                _text(previous),
                _text(h.get("by")),
                str(h.get("reason") or ""),
            )
        )
    return table(("TIME", "ACTION", "REVISION", "PREVIOUS", "BY", "REASON"), rows)
