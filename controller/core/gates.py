"""Whether an ``analysis`` step or the promotion may pass the analysis (pure).

An ``analysis`` step waits for its metrics to pass; the promotion only needs
none to be failing, inconclusive or without data. No data (a comparison whose
canary or stable served nothing) is settled here by the metric's ``noData``
policy: ``fail`` aborts, ``inconclusive`` holds, ``ignore`` lets the release go
on. A user's promote (``overridden_by``) overrides what is inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controller.api.analysis import (
    Analysis,
    AnalysisStatus,
    Metric,
    MetricStatus,
    Stage,
    Verdict,
)
from controller.api.reasons import AbortCode, HoldReason
from controller.api.v1alpha1 import Step
from controller.api.wire import parse_duration
from controller.core.analysis import evidence
from controller.core.holds import Abort, Answer, Hold


@dataclass(frozen=True, kw_only=True)
class Gate:
    """What the metrics at a gate say, each list in words ("; "-joined)."""

    waiting: str = ""
    inconclusive: str = ""
    failed: str = ""

    @property
    def passed(self) -> bool:
        return not (self.waiting or self.inconclusive or self.failed)


def no_data(metric: Metric, status: MetricStatus) -> bool:
    """Whether a comparison has nothing to judge (a revision that served no requests)."""
    if metric.threshold is not None:
        return False
    return status.canary_requests <= 0 or status.stable_requests <= 0


def gate(
    spec: Analysis,
    current: AnalysisStatus,
    *,
    names: list[str] | None,
    expired: bool,
) -> Gate:
    """What an ``analysis`` step (``names``; all when empty) or the promotion (None) faces.

    An ``analysis`` step waits for every named metric to pass; the promotion only
    needs none to be failing or without data. ``expired``: the step's
    ``maxDuration`` (or the guard) is over, so what is still undecided is settled
    as inconclusive, and no data per the metric's ``noData`` policy.
    """
    statuses = {m.name: m for m in current.metrics}
    wanted = [m for m in spec.metrics if names is None or not names or m.name in names]
    waiting, inconclusive, failed = [], [], []
    step = names is not None
    for metric in wanted:
        status = statuses.get(metric.name) or MetricStatus(name=metric.name)
        if status.verdict == Verdict.FAIL:
            failed.append(evidence(status, current.stage))
            continue
        if status.verdict == Verdict.INCONCLUSIVE:
            inconclusive.append(f"{metric.name}: {status.reason}")
            continue
        if _passes(metric, status, step=step):
            continue
        if no_data(metric, status):
            if not step or expired:
                who = _who(status, current.stage)
                why = f"{metric.name}: no data (the {who} served no requests)"
                if metric.no_data == "fail":
                    failed.append(why)
                elif metric.no_data == "inconclusive":
                    inconclusive.append(why)
                continue
            waiting.append(f"{metric.name}: no data yet")
            continue
        if not step:
            continue  # the promotion needs no verdict: the steps' time was the budget
        more = status.more_canary_requests_needed
        detail = f"≈{more} more canary requests" if more else "undecided"
        if expired:
            inconclusive.append(f"{metric.name}: still undecided ({detail})")
        else:
            waiting.append(f"{metric.name}: {detail}")
    if current.overridden_by is not None:
        inconclusive = []
    return Gate(
        waiting="; ".join(waiting),
        inconclusive="; ".join(inconclusive),
        failed="; ".join(failed),
    )


def _answer(result: Gate, *, wake_at: datetime | None = None) -> Answer:
    if result.failed:
        return Abort(code=AbortCode.ANALYSIS_FAILED, reason=result.failed)
    if result.inconclusive:
        return Hold(reason=HoldReason.ANALYSIS_INCONCLUSIVE, detail=result.inconclusive)
    if result.waiting:
        return Hold(reason=HoldReason.ANALYSIS_RUNNING, detail=result.waiting, wake_at=wake_at)
    return None


def analysis_step(
    spec: Analysis | None,
    current: AnalysisStatus | None,
    step: Step,
    *,
    started: datetime,
    now: datetime,
) -> Answer:
    """An ``analysis`` step that began at ``started``: wait for its metrics to pass,
    until its ``maxDuration``, when what is undecided becomes inconclusive."""
    if spec is None or current is None or step.analysis is None:
        return None
    ends = started + parse_duration(step.analysis.max_duration)
    expired = now >= ends
    result = gate(spec, current, names=step.analysis.metrics, expired=expired)
    return _answer(result, wake_at=None if expired else ends)


def promotion(spec: Analysis | None, current: AnalysisStatus | None) -> Answer:
    """The promotion: nothing failing, inconclusive or (per ``noData``) without data."""
    if spec is None or current is None:
        return None
    return _answer(gate(spec, current, names=None, expired=True))


def _passes(metric: Metric, status: MetricStatus, *, step: bool) -> bool:
    if status.verdict == Verdict.PASS:
        return True
    if metric.threshold is not None:
        # Background threshold metrics need no verdict to promote; at an analysis
        # step one without a count passes on its first successful measurement.
        return not step or (metric.threshold.count is None and status.successful > 0)
    return False


def _who(status: MetricStatus, stage: Stage) -> str:
    if stage == Stage.GUARD:
        return "new stable" if status.canary_requests <= 0 else "previous revision"
    return "canary" if status.canary_requests <= 0 else "stable"
