"""What one release's message says now, read from the Rollout alone (pure).

:func:`note_for` turns a Rollout (the dict the API server returns) into the
:class:`~controller.chatops.notes.ReleaseNote` of its current release, or None
when there is nothing to tell (a Rollout only adopted, never released):

- **which release**: the canary revision while one runs; otherwise the revision
  the newest release-ending history entry acted on (promoted, aborted, rolled
  back, superseded);
- **headline and lines** per state: started, each step (the CLI's own step words,
  :func:`controller.cli.render.describe_step`), paused for promotion, paused by a
  person, analysis running or inconclusive (one evidence line per metric), flags
  switched off (who, why), aborted or rolled back (who, why — the evidence line of
  a failed analysis is the history entry's reason), promoted, guard running /
  passed / failed;
- **actions** that apply now: a canary paused for promotion → promote, abort;
  paused by a person → resume, abort; progressing → pause, abort; promoted with
  its guard still judging → rollback (when a previous stable is kept); aborted or
  rolled back → retry (and, after an abort, rollback when a previous stable is
  kept); done → none;
- ``done``: promoted (guard passed or none), superseded — nothing more will change
  this message. An aborted or rolled-back release is not done: ``retry`` releases
  the same revision again, and its message carries on.

Everything tolerates missing or malformed fields: this never raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from controller.api.analysis import Stage, Verdict
from controller.api.reasons import AbortCode, HoldReason
from controller.api.v1alpha1 import HistoryAction
from controller.chatops.commands import Verb
from controller.chatops.notes import ReleaseNote
from controller.cli.render import describe_step

__all__ = ["note_for", "superseded"]

_ENDINGS = frozenset(
    {HistoryAction.PROMOTED, HistoryAction.ABORTED, HistoryAction.ROLLED_BACK,
     HistoryAction.SUPERSEDED}
)  # fmt: skip
_FLAG_ACTIONS = frozenset({HistoryAction.FLAGS_DISABLED, HistoryAction.FLAGS_OFF_BY_HAND})
_MAX_LINE = 300


def note_for(rollout: Mapping[str, Any]) -> ReleaseNote | None:
    """The note of ``rollout``'s current (or just ended) release; None: nothing to tell."""
    meta = _dict(rollout.get("metadata"))
    status = _dict(rollout.get("status"))
    namespace, name = _str(meta.get("namespace")), _str(meta.get("name"))
    if not namespace or not name:
        return None
    history = [h for h in _list(status.get("history")) if isinstance(h, dict)]
    canary = _str(status.get("canaryRevision"))
    base = {"namespace": namespace, "rollout": name}
    if canary:
        return _running(rollout, status, history, canary, base)
    ending = next((h for h in reversed(history) if h.get("action") in _ENDINGS), None)
    if ending is None or not _str(ending.get("revision")):
        return None
    return _ended(status, history, ending, base)


def superseded(note: ReleaseNote, *, by_revision: str) -> ReleaseNote:
    """``note``'s final words once a newer revision replaced its release: a release that
    was still running says it was superseded; an aborted or rolled-back one keeps its
    story. Either way nothing more applies to it (``done``, no actions)."""
    running = Verb.ABORT in note.actions
    headline = (
        f"{note.target}: release {note.revision} superseded by {by_revision}"
        if running
        else note.headline
    )
    return ReleaseNote(
        namespace=note.namespace,
        rollout=note.rollout,
        revision=note.revision,
        headline=headline,
        lines=(*note.lines, f"Release {by_revision} followed; its own message carries on."),
        done=True,
        severity="info" if running else note.severity,
        tags=note.tags,
    )


# ------------------------------------------------------------------- running


def _running(
    rollout: Mapping[str, Any],
    status: dict[str, Any],
    history: list[dict[str, Any]],
    canary: str,
    base: dict[str, str],
) -> ReleaseNote:
    target = f"{base['namespace']}/{base['rollout']}"
    steps = _steps(rollout)
    index = status.get("currentStepIndex")
    at = index if isinstance(index, int) and not isinstance(index, bool) else None
    weight = _int(status.get("canaryWeight"))
    where = _where(steps, at)
    hold = _condition_reason(status, "Paused") if _condition_true(status, "Paused") else ""
    by_person = bool(_dict(rollout.get("spec")).get("paused")) or hold == HoldReason.PAUSED_BY_USER
    lines = [
        f"Canary {canary} at {weight}% of traffic; stable {_text(status.get('stableRevision'))}"
    ]
    if at is not None and 0 <= at < len(steps):
        lines.append(f"Step {at + 1}/{len(steps)}: {_step_words(steps[at])}")
    lines += _analysis_lines(status, stage=Stage.CANARY, revision=canary)
    flags, flag_tags = _flag_lines(history, canary)
    lines += flags
    severity = "warning" if flag_tags else "info"
    if by_person:
        headline = f"{target}: release {canary} paused by a person{where}"
        actions: tuple[Verb, ...] = (Verb.RESUME, Verb.ABORT)
        severity = "warning"
    elif hold == HoldReason.ANALYSIS_INCONCLUSIVE:
        headline = f"{target}: release {canary} paused{where}: analysis inconclusive"
        actions, severity = (Verb.PROMOTE, Verb.ABORT), "warning"
    elif hold in (HoldReason.WAITING_FOR_PROMOTE, HoldReason.TIMED_PAUSE):
        headline = f"{target}: release {canary} paused{where} for promotion"
        actions, severity = (Verb.PROMOTE, Verb.ABORT), "warning"
    elif at is None or (at == 0 and weight == 0):
        headline = f"{target}: release {canary} started"
        actions = (Verb.PAUSE, Verb.ABORT)
    else:
        headline = f"{target}: release {canary} progressing{where}"
        actions = (Verb.PAUSE, Verb.ABORT)
    message = _str(status.get("message"))
    if message:
        lines.append(message)
    return _note(
        base, revision=canary, headline=_clip(headline), lines=_clipped(lines),
        actions=actions, severity=severity, tags=flag_tags,
    )  # fmt: skip


def _where(steps: list[dict[str, Any]], at: int | None) -> str:
    if at is None or not steps or not 0 <= at < len(steps):
        return ""
    return f" at step {at + 1}/{len(steps)}"


def _analysis_lines(status: dict[str, Any], *, stage: Stage, revision: str) -> list[str]:
    """One evidence line per metric of the analysis of ``revision`` at ``stage``."""
    analysis = _dict(status.get("analysis"))
    if (
        _str(analysis.get("revision")) != revision
        or (analysis.get("stage") or Stage.CANARY) != stage
    ):
        return []
    return [_metric_line(m) for m in _list(analysis.get("metrics")) if isinstance(m, dict)]


def _metric_line(metric: dict[str, Any]) -> str:
    name, verdict = _text(metric.get("name")), _text(metric.get("verdict") or Verdict.UNDECIDED)
    note = _str(metric.get("reason") or metric.get("lastError"))
    if _int(metric.get("measurements")):
        value = _float(metric.get("value"))
        shown = f"value {value:.4g}" if value is not None else "no data"
        line = f"{name}: {verdict}, {shown} ({_int(metric.get('failed'))} failed)"
    else:
        canary = _share(metric.get("canaryBad"), metric.get("canaryRequests"))
        stable = _share(metric.get("stableBad"), metric.get("stableRequests"))
        evidence = _float(metric.get("evidence"))
        lr = f", LR {evidence:.3g}" if evidence is not None else ""
        line = f"{name}: {verdict}, canary {canary} bad vs stable {stable}{lr}"
    return f"{line} — {note}" if note else line


def _flag_lines(history: list[dict[str, Any]], revision: str) -> tuple[list[str], tuple[str, ...]]:
    """Flags switched off during the release of ``revision`` (since it last started)."""
    since = 0
    for i, entry in enumerate(history):
        if entry.get("action") in (HistoryAction.RELEASE_STARTED, HistoryAction.RETRIED) and (
            _str(entry.get("revision")) == revision
        ):
            since = i
    lines = [
        f"Flags switched off by {_text(h.get('by'))}: {_text(h.get('reason'))}"
        for h in history[since:]
        if h.get("action") in _FLAG_ACTIONS
    ]
    return lines, (("flags-off",) if lines else ())


# --------------------------------------------------------------------- ended


def _ended(
    status: dict[str, Any],
    history: list[dict[str, Any]],
    ending: dict[str, Any],
    base: dict[str, str],
) -> ReleaseNote:
    target = f"{base['namespace']}/{base['rollout']}"
    action, revision = ending.get("action"), _str(ending.get("revision"))
    by, reason = _text(ending.get("by")), _str(ending.get("reason"))
    previous = _str(status.get("previousStableRevision"))
    flags, tags = _flag_lines(history, revision)
    if action == HistoryAction.PROMOTED:
        return _promoted(status, ending, base, flags, tags)
    if action == HistoryAction.SUPERSEDED:
        return _note(
            base, revision=revision, headline=f"{target}: release {revision} superseded",
            lines=_clipped([reason] if reason else []), done=True,
        )  # fmt: skip
    who = f"by {by}" + (f": {reason}" if reason else "")
    if action == HistoryAction.ROLLED_BACK:
        guard = reason.startswith(AbortCode.GUARD_FAILED)
        what = "guard failed; rolled back" if guard else "rolled back"
        back_to = _str(status.get("rollingBackTo")) or _str(ending.get("previousRevision"))
        suffix = f" (to {back_to})" if back_to and back_to != revision and not guard else ""
        headline = f"{target}: release {revision} {what}{suffix}"
        actions: tuple[Verb, ...] = (Verb.RETRY,)
        lines = [f"Rolled back {who}"]
    else:
        analysis = reason.startswith(AbortCode.ANALYSIS_FAILED)
        what = "analysis failed; aborted" if analysis else "aborted"
        headline = f"{target}: release {revision} {what}"
        actions = (Verb.RETRY, Verb.ROLLBACK) if previous else (Verb.RETRY,)
        lines = [f"Aborted {who}"]
    lines.append(f"Stable {_text(status.get('stableRevision'))} serves all traffic")
    return _note(
        base, revision=revision, headline=_clip(headline), lines=_clipped(lines + flags),
        actions=actions, severity="danger", tags=tags,
    )  # fmt: skip


def _promoted(
    status: dict[str, Any],
    ending: dict[str, Any],
    base: dict[str, str],
    flags: list[str],
    tags: tuple[str, ...],
) -> ReleaseNote:
    target = f"{base['namespace']}/{base['rollout']}"
    revision, by = _str(ending.get("revision")), _text(ending.get("by"))
    analysis = _dict(status.get("analysis"))
    guarding = analysis.get("stage") == Stage.GUARD and _str(analysis.get("revision")) == revision
    lines = [f"Promoted by {by}; {revision} serves all traffic", *flags]
    if guarding and not analysis.get("completed"):
        lines += _analysis_lines(status, stage=Stage.GUARD, revision=revision)
        previous = _str(status.get("previousStableRevision"))
        return _note(
            base, revision=revision,
            headline=f"{target}: release {revision} promoted; guard judging until "
                     f"{_text(analysis.get('endsAt'))}",
            lines=_clipped(lines), actions=(Verb.ROLLBACK,) if previous else (),
            tags=tags,
        )  # fmt: skip
    passed = "; guard passed" if guarding else ""
    return _note(
        base, revision=revision, headline=f"{target}: release {revision} promoted{passed}",
        lines=_clipped(lines), done=True, tags=tags,
    )  # fmt: skip


# ------------------------------------------------------------------- reading


def _note(base: dict[str, str], **fields: Any) -> ReleaseNote:
    return ReleaseNote(namespace=base["namespace"], rollout=base["rollout"], **fields)


def _steps(rollout: Mapping[str, Any]) -> list[dict[str, Any]]:
    canary = _dict(_dict(_dict(rollout.get("spec")).get("strategy")).get("canary"))
    return [s for s in _list(canary.get("steps")) if isinstance(s, dict)]


def _step_words(step: dict[str, Any]) -> str:
    """The CLI's words for a step, when the step is well formed enough for them."""
    if "pause" in step and not isinstance(step["pause"], dict | None):
        return "pause"
    if "analysis" in step and not isinstance(step["analysis"], dict | None):
        return "analysis"
    return describe_step(step)


def _condition_true(status: dict[str, Any], kind: str) -> bool:
    return any(
        isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
        for c in _list(status.get("conditions"))
    )


def _condition_reason(status: dict[str, Any], kind: str) -> str:
    for c in _list(status.get("conditions")):
        if isinstance(c, dict) and c.get("type") == kind:
            return _str(c.get("reason"))
    return ""


def _share(bad: object, total: object) -> str:
    b, t = _float(bad) or 0.0, _float(total) or 0.0
    return f"{b:.0f}/{t:.0f}" + (f" ({b / t:.1%})" if t > 0 else "")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _text(value: object) -> str:
    return value if isinstance(value, str) and value else "-"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _clip(line: str) -> str:
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"


def _clipped(lines: list[str]) -> tuple[str, ...]:
    return tuple(_clip(line) for line in lines)
