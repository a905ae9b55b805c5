"""Whether an ``analysis`` step or the promotion may pass the analysis (pure).

An ``analysis`` step waits for its metrics to pass; the promotion only needs
none to be failing, inconclusive or without data. No data (a comparison whose
canary or stable served nothing) is settled here by the metric's ``noData``
policy: ``fail`` aborts, ``inconclusive`` holds, ``ignore`` lets the release go
on. A user's promote (``overridden_by``) overrides what is inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.api.analysis import Analysis, AnalysisStatus, Metric, MetricStatus, Stage
from controller.core.analysis import GUARD, evidence


@dataclass(frozen=True, kw_only=True)
class Gate:
    """Whether a step (or the promotion) may pass the analysis."""

    passed: bool
    waiting: str = ""
    inconclusive: str = ""
    failed: str = ""


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
    """Whether an ``analysis`` step (``names``; all when empty) or the promotion (None) passes.

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
        if status.verdict == "Fail":
            failed.append(evidence(status, current.stage))
            continue
        if status.verdict == "Inconclusive":
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
    passed = not (waiting or inconclusive or failed)
    return Gate(
        passed=passed,
        waiting="; ".join(waiting),
        inconclusive="; ".join(inconclusive),
        failed="; ".join(failed),
    )


def _passes(metric: Metric, status: MetricStatus, *, step: bool) -> bool:
    if status.verdict == "Pass":
        return True
    if metric.threshold is not None:
        # Background threshold metrics need no verdict to promote; at an analysis
        # step one without a count passes on its first successful measurement.
        return not step or (metric.threshold.count is None and status.successful > 0)
    return False


def _who(status: MetricStatus, stage: Stage) -> str:
    if stage == GUARD:
        return "new stable" if status.canary_requests <= 0 else "previous revision"
    return "canary" if status.canary_requests <= 0 else "stable"
