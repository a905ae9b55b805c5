"""The feature-flag kill switch: which flags to switch, when to try, what was confirmed (pure).

The events that switch flags only change what is *wanted* in
``status.featureFlags`` (:func:`switch_off` on an abort, a person's rollback or a
guard failure, each flag's ``disableOn`` deciding; :func:`restore` on ``retry``;
:func:`disable_instead_of_abort` for ``onAnomaly: DisableFlags``; a person's
``landinggear flags off|restore`` in :mod:`controller.core.flag_requests`). One
place, :func:`drive`, at the end of every decision, turns each wanted state that
the provider has not confirmed into a :data:`~controller.core.actions.FlagAction`
(unless its backoff is still running), after the workload's actions, so traffic
is on the stable before any provider is asked. The I/O layer tries them in the
same reconcile and reports each answer back as a
:class:`~controller.core.actions.FlagResult`; :func:`confirm` folds the answers
into the status before it is written once. So everything a restarted controller
needs (wanted, confirmed, attempts, the time of the last one) is in the status,
and the ``FlagsPending`` condition is True exactly while a wanted state is
unconfirmed.

A flag switched off by hand (its reason starts with ``Manual:``, see
:func:`by_hand`) is the person's: ``retry`` does not restore it, an abort leaves it
as it is, only ``landinggear flags restore`` puts it back.

A confirmed state is not re-applied: a person who changes the flag afterwards
is not fought.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from controller.api.analysis import AnalysisStatus, Stage
from controller.api.flags import FeatureFlag, FlagState, FlagStatus, FlagTrigger, OnAnomaly
from controller.api.reasons import AbortCode, ConditionReason, EventReason, EventType
from controller.api.v1alpha1 import Condition, ConditionType, HistoryAction, RolloutSpec
from controller.api.wire import parse_duration
from controller.core import analysis
from controller.core import status as st
from controller.core.actions import Decision, Event, FlagResult, RestoreFlag, SwitchFlagOff
from controller.core.draft import CONTROLLER, Draft, Inputs
from controller.core.world import MANUAL

RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 15.0
"""A flag that should be off is tried again at least this often, so it goes off within
about this long of its provider coming back (a kill switch must not wait minutes)."""


def retry_delay(attempts: int) -> float:
    """Seconds after the ``attempts``-th failed attempt before the next: 1, 2, 4, 8, 15, 15 …"""
    return min(RETRY_BASE_SECONDS * 2.0 ** max(attempts - 1, 0), RETRY_CAP_SECONDS)


def wanted_off(spec: RolloutSpec, trigger: FlagTrigger) -> list[FeatureFlag]:
    """The flags ``trigger`` switches off: those naming it in ``disableOn``; for an abort,
    only when ``onAnomaly`` disables flags (``Rollback`` leaves them alone)."""
    if trigger is FlagTrigger.ABORT and not spec.anomaly_policy.disables_flags_on_abort:
        return []
    return [f for f in spec.feature_flags if trigger in f.disable_on]


def switch_off(
    inputs: Inputs, draft: Draft, trigger: FlagTrigger, *, reason: str, by: str
) -> Draft:
    """``trigger`` happened (``reason``, caused by ``by``): want its flags off."""
    names = [f.name for f in wanted_off(inputs.rollout.spec, trigger)]
    return want(inputs, draft, names, FlagState.OFF, reason=f"{trigger}: {reason}", by=by)


def by_hand(entry: FlagStatus) -> bool:
    """Wanted off because a person said so (``landinggear flags off``)."""
    return entry.wanted is FlagState.OFF and entry.reason.startswith(f"{MANUAL}: ")


def restore(inputs: Inputs, draft: Draft, *, by: str) -> Draft:
    """A retry by ``by``: want every flag that an abort, a rollback, a guard failure or
    ``onAnomaly: DisableFlags`` switched off back as it was. Flags a person switched off
    by hand stay off: whoever pulled that switch meant it beyond this release, and
    ``landinggear flags restore`` is there to put them back."""
    names = [
        e.name for e in draft.status.feature_flags if e.wanted is FlagState.OFF and not by_hand(e)
    ]
    return want(inputs, draft, names, FlagState.RESTORED, reason=f"Retry by {by}", by=by)


def want(
    inputs: Inputs,
    draft: Draft,
    names: Iterable[str],
    state: FlagState,
    *,
    reason: str,
    by: str,
) -> Draft:
    """``names`` wanted ``state`` (``reason``, caused by ``by``); a flag already wanted so
    keeps its entry (reason, attempts and backoff), the others start afresh."""
    entries = {e.name: e for e in draft.status.feature_flags}
    changed = False
    for name in names:
        old = entries.get(name)
        if old is not None and old.wanted is state:
            continue  # already wanted so: keep its reason and attempts
        entries[name] = FlagStatus(
            name=name,
            wanted=state,
            state=old.state if old else None,
            reason=reason[:1024],
            by=by,
            wanted_at=draft.now,
            changed_at=old.changed_at if old else None,
            previous=old.previous if old else "",
        )
        changed = True
    if not changed:
        return draft
    return with_entries(inputs, draft, entries.values())


def with_entries(inputs: Inputs, draft: Draft, entries: Iterable[FlagStatus]) -> Draft:
    """``draft`` with ``entries`` as its flags, in the order the spec declares them."""
    order = {f.name: i for i, f in enumerate(inputs.rollout.spec.feature_flags)}
    ordered = sorted(entries, key=lambda e: order.get(e.name, len(order)))
    return draft.with_status(feature_flags=ordered)


def disable_instead_of_abort(
    inputs: Inputs, draft: Draft, current: AnalysisStatus, *, failed: str
) -> Draft | None:
    """``onAnomaly: DisableFlags``: the canary's analysis failed (``failed``). The first
    time, switch the flags off, keep the canary at its weight and judge it again from
    zero (None: abort as usual — not that policy, a second failure, or the canary was
    judged with every one of those flags off already).

    A flag a person switched off while this analysis ran (``flags off``) counts as
    switched now: the verdict still weighed traffic with it on, so the canary gets the
    same second chance as if the policy had switched it. Only this function sets
    ``flagsOffAt``; a switch by hand never restarts the analysis."""
    spec = inputs.rollout.spec
    analysis_spec = spec.strategy.canary.analysis
    if (
        spec.anomaly_policy is not OnAnomaly.DISABLE_FLAGS
        or analysis_spec is None
        or current.stage != Stage.CANARY
        or current.flags_off_at is not None
    ):
        return None
    off = {e.name: e for e in draft.status.feature_flags if e.wanted is FlagState.OFF}
    policy = [f.name for f in wanted_off(spec, FlagTrigger.ABORT)]
    names = [name for name in policy if name not in off]
    lately = [name for name in policy if name in off and _off_since(off[name], current)]
    if not names and not lately:
        return None
    why = f"{AbortCode.ANALYSIS_FAILED}: {failed}"
    draft = want(
        inputs,
        draft,
        names,
        FlagState.OFF,
        reason=f"{FlagTrigger.ABORT}: {why} (onAnomaly: DisableFlags)",
        by=CONTROLLER,
    )
    # Counted from when the apps can have seen the flags off (their SDKs' refresh).
    counting_from = inputs.now + parse_duration(spec.strategy.canary.flag_propagation)
    fresh = analysis.begin(
        analysis_spec, None, revision=current.revision, stage=Stage.CANARY, now=counting_from
    ).model_copy(update={"flags_off_at": inputs.now})
    draft = draft.with_status(analysis=fresh)
    switched = [f"switched off {', '.join(names)}"] if names else []
    if lately:
        switched.append(f"{', '.join(lately)} switched off since the analysis started")
    draft = draft.record(
        HistoryAction.FLAGS_DISABLED,
        current.revision,
        by=CONTROLLER,
        reason=f"{why}; {'; '.join(switched)}; judging the canary again from zero, "
        f"on requests from {spec.strategy.canary.flag_propagation} on",
    )
    outcome = analysis.analyse(analysis_spec, fresh, measurements=None, now=inputs.now)
    return draft.wake(outcome.next_look)


def _off_since(entry: FlagStatus, current: AnalysisStatus) -> bool:
    """Wanted off after ``current`` began: some of its traffic was judged with it on."""
    return (
        entry.wanted_at is not None
        and current.started_at is not None
        and entry.wanted_at > current.started_at
    )


def drive(inputs: Inputs, draft: Draft) -> Draft:
    """The flag actions due now (after every other action), the wake-up for those
    backing off, and the ``FlagsPending`` condition."""
    declared = {f.name: f for f in inputs.rollout.spec.feature_flags}
    kept = []
    for entry in draft.status.feature_flags:
        if entry.name in declared:
            kept.append(entry)
            continue
        draft = draft.emit(
            EventType.WARNING,
            EventReason.FLAG_DROPPED,
            f"Flag {entry.name} was removed from spec.featureFlags while wanted "
            f"{entry.wanted} (confirmed: {entry.state or 'none'}); it is left as it is",
        )
    if len(kept) != len(draft.status.feature_flags):
        draft = draft.with_status(feature_flags=kept)
    for entry in kept:
        if not entry.pending:
            continue
        due = _next_try(entry)
        if due is not None and due > draft.now:
            draft = draft.wake(due)
            continue
        flag = declared[entry.name]
        if entry.wanted is FlagState.OFF:
            draft = draft.act(SwitchFlagOff(flag=flag, reason=entry.reason))
        else:
            draft = draft.act(RestoreFlag(flag=flag, previous=entry.previous))
    if not declared and not kept and not _has_condition(draft.status.conditions):
        return draft
    return draft.with_status(conditions=_conditions(draft.status.conditions, kept, draft.now))


def confirm(decision: Decision, results: Sequence[FlagResult], *, now: datetime) -> Decision:
    """``decision`` with its flag actions' answers folded in: confirmed states, failed
    attempts (a Warning Event on the first), the retry's wake-up, ``FlagsPending``."""
    if not results:
        return decision
    answers = {r.flag: r for r in results}
    entries = list(decision.status.feature_flags)
    events = list(decision.events)
    retries: list[float] = []
    for index, entry in enumerate(entries):
        result = answers.get(entry.name)
        if result is None or result.state is not entry.wanted:
            continue
        if result.error:
            attempts = entry.attempts + 1
            entries[index] = entry.model_copy(
                update={"attempts": attempts, "last_error": result.error[:1024],
                        "last_attempt_at": now}
            )  # fmt: skip
            retries.append(retry_delay(attempts))
            if attempts == 1:
                events.append(_failed_event(entry, result.error))
            continue
        off = entry.wanted is FlagState.OFF
        previous = (result.previous or entry.previous) if off else ""
        entries[index] = entry.model_copy(
            update={"state": entry.wanted, "attempts": 0, "last_error": "",
                    "last_attempt_at": now, "changed_at": now, "previous": previous}
        )  # fmt: skip
        events.append(_confirmed_event(entry))
    status = decision.status.model_copy(
        update={
            "feature_flags": entries,
            "conditions": _conditions(decision.status.conditions, entries, now),
        }
    )
    waits = [w for w in (decision.requeue_after, *retries) if w is not None]
    return replace(
        decision, status=status, events=tuple(events), requeue_after=min(waits, default=None)
    )


def pending_message(entries: Iterable[FlagStatus]) -> str:
    """The unconfirmed flags in words (empty: none)."""
    parts = []
    for entry in entries:
        if not entry.pending:
            continue
        tried = (
            f" after {entry.attempts} failed attempt{'s' if entry.attempts > 1 else ''}: "
            f"{entry.last_error}"
            if entry.attempts
            else " yet"
        )
        parts.append(f"{entry.name}: {entry.wanted} not confirmed{tried}")
    return "; ".join(parts)


def _next_try(entry: FlagStatus) -> datetime | None:
    if entry.attempts == 0 or entry.last_attempt_at is None:
        return None
    return entry.last_attempt_at + timedelta(seconds=retry_delay(entry.attempts))


def _has_condition(conditions: list[Condition]) -> bool:
    return any(c.type is ConditionType.FLAGS_PENDING for c in conditions)


def _conditions(
    conditions: list[Condition], entries: Iterable[FlagStatus], now: datetime
) -> list[Condition]:
    message = pending_message(entries)
    state: st.ConditionState = (
        (True, ConditionReason.FLAGS_PENDING, message)
        if message
        else (False, ConditionReason.FLAGS_CONFIRMED, "")
    )
    return st.set_conditions(conditions, {ConditionType.FLAGS_PENDING: state}, now=now)


def _failed_event(entry: FlagStatus, error: str) -> Event:
    what = "switch flag {} off" if entry.wanted is FlagState.OFF else "restore flag {}"
    return Event(
        type=EventType.WARNING,
        reason=EventReason.FLAGS_PENDING,
        message=f"Could not {what.format(entry.name)}: {error}; retrying with backoff "
        f"(the workload does not wait for it)",
    )


def _confirmed_event(entry: FlagStatus) -> Event:
    if entry.wanted is FlagState.OFF:
        return Event(
            type=EventType.NORMAL,
            reason=EventReason.FLAG_SWITCHED_OFF,
            message=f"Switched flag {entry.name} off ({entry.reason})",
        )
    return Event(
        type=EventType.NORMAL,
        reason=EventReason.FLAG_RESTORED,
        message=f"Restored flag {entry.name} ({entry.reason})",
    )
