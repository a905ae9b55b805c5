"""The post-promotion guard: judge the new stable, roll back to the previous one on failure (pure).

At promotion the step machine starts a ``Guard`` stage in ``status.analysis``
(:func:`controller.core.analysis.begin_guard`). Until it ends, each reconcile
folds the new looks in; a failure starts the rollback to the kept previous
revision (:mod:`controller.core.rollback`), the end without a failure marks it
completed. While it runs, the Rollout reads ``Progressing / GuardRunning``. Time in
which the metrics cannot be measured (Prometheus down) does not count: the guard
ends that much later, so a regression that shows during an outage is still judged.
"""

from __future__ import annotations

from datetime import timedelta

from controller.api.analysis import Stage
from controller.api.reasons import EventReason, EventType, HoldReason
from controller.core import analysis, gates, looks, rollback
from controller.core.draft import Draft, Inputs
from controller.core.holds import Hold


def guard(inputs: Inputs, draft: Draft) -> tuple[Draft, Hold | None]:
    """Judge the guarded stable; a ``GuardRunning`` hold while the guard goes on."""
    spec = inputs.rollout.spec.strategy.canary.analysis
    current = draft.status.analysis
    stable = draft.status.stable_revision
    if (
        spec is None
        or current is None
        or current.stage != Stage.GUARD
        or current.completed
        or current.revision != stable
    ):
        return draft, None
    outcome = analysis.analyse(
        spec, current, measurements=inputs.measurements, now=inputs.now, looking=inputs.looking
    )
    current = outcome.status
    started = current.started_at or inputs.now
    lost = analysis.spell_seconds(outcome.recovered_from, since=started, now=inputs.now)
    if lost:  # the guard watches for its duration of measured time
        later = (current.ends_at or inputs.now) + timedelta(seconds=lost)
        current = current.model_copy(update={"ends_at": later})
    draft = draft.with_status(analysis=current)
    for text in outcome.unmeasurable:
        draft = draft.emit(EventType.WARNING, EventReason.METRIC_UNMEASURABLE, text)
    unjudged = analysis.unjudged_seconds(current, since=started, now=inputs.now)
    ends = (current.ends_at or inputs.now) + timedelta(seconds=unjudged)
    failed = outcome.failed
    late = looks.overdue(spec, current, now=inputs.now)  # judge what came in meanwhile first
    if not failed and inputs.now >= ends and not late:
        result = gates.gate(spec, current, names=None, expired=True)
        failed = result.failed
        if not failed:
            draft = draft.with_status(analysis=current.model_copy(update={"completed": True}))
            notes = f"; not judged: {result.inconclusive}" if result.inconclusive else ""
            duration = spec.guard.duration if spec.guard else ""
            return draft.emit(
                EventType.WARNING if result.inconclusive else EventType.NORMAL,
                EventReason.GUARD_PASSED,
                f"{stable} held up for {duration} after promotion{notes}",
            ), None
    if failed:
        previous = current.baseline_revision
        return rollback.guard_failed(inputs, draft, failed=failed, previous=previous), None
    draft = draft.wake(min(outcome.next_look, ends) if outcome.next_look is not None else ends)
    held = f" (held: {outcome.holding})" if outcome.holding else ""
    message = (
        f"Revision {stable} serves all traffic; guarding it against "
        f"{current.baseline_revision} until {ends.isoformat()}{held}"
    )
    return draft, Hold(reason=HoldReason.GUARD_RUNNING, detail=message)
