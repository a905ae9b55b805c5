"""What the demo measured, and how it is printed: pure data and formatting.

Times are seconds on the demo's monotonic clock, measured from the moment the
release command was issued (just before ``kubectl`` ran, so they include its
start-up). Judge figures are copied from ``status.analysis`` as the controller
wrote it at the decision; served figures come from the traffic generator, which
counts every request it sent and how it was answered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from controller.api.analysis import Verdict

__all__ = ["BadRelease", "FlaggedRelease", "HealthyRelease", "JudgedMetric", "Summary", "render"]


@dataclass(frozen=True, kw_only=True)
class JudgedMetric:
    """One metric of ``status.analysis`` at the decision."""

    name: str
    verdict: str
    canary_requests: float
    canary_bad: float
    stable_requests: float
    stable_bad: float
    evidence: float

    @classmethod
    def from_status(cls, metric: dict[str, Any]) -> JudgedMetric:
        return cls(
            name=str(metric.get("name", "?")),
            verdict=str(metric.get("verdict", Verdict.UNDECIDED)),
            canary_requests=float(metric.get("canaryRequests") or 0),
            canary_bad=float(metric.get("canaryBad") or 0),
            stable_requests=float(metric.get("stableRequests") or 0),
            stable_bad=float(metric.get("stableBad") or 0),
            evidence=float(metric.get("evidence") or 1.0),
        )

    def describe(self) -> str:
        canary = self.canary_bad / self.canary_requests if self.canary_requests else 0.0
        stable = self.stable_bad / self.stable_requests if self.stable_requests else 0.0
        return (
            f"{self.name} {self.verdict}: canary {self.canary_bad:.0f} bad of "
            f"{self.canary_requests:.0f} ({canary:.1%}), stable {self.stable_bad:.0f} of "
            f"{self.stable_requests:.0f} ({stable:.1%}), likelihood ratio {self.evidence:.3g}"
        )


@dataclass(frozen=True, kw_only=True)
class HealthyRelease:
    revision: str
    to_canary_serving: float
    """Release → the canary's app answered its first request."""
    to_promotion: float
    """Release → the Rollout made it stable."""
    served: int
    """Requests the canary answered before promotion (and after, as the new stable)."""
    judged: list[JudgedMetric] = field(default_factory=list)
    """The analysis as last seen before promotion."""


@dataclass(frozen=True, kw_only=True)
class BadRelease:
    revision: str
    error_rate: float
    """The share of requests its app answers with 500."""
    to_decision: float
    """Release → the Rollout's phase turned Degraded (the abort)."""
    to_first_counts: float
    """Release → the first look of the analysis that counted canary requests: pod
    start, app up, scrape target discovered, scraped, judged (0 if never seen)."""
    decided_at_step: str
    message: str
    judged: list[JudgedMetric]
    fail_threshold: float
    """The likelihood ratio at which a metric fails: metrics / alpha."""
    to_traffic_restored: float
    """Release → the last request the bad revision answered."""
    to_scaled_down: float
    """Release → canary ReplicaSet at 0 and the stable at full size."""
    served: int
    """Requests the bad revision answered, in total."""
    served_errors: int
    """Of those, answered with a 5xx (or not at all)."""


@dataclass(frozen=True, kw_only=True)
class FlaggedRelease:
    """A release whose new path fails only while its flag is on; ``onAnomaly: DisableFlags``.

    Intervals are wall-clock seconds between the controller's records (history,
    flag status) and the app's SDK gauge, all on this machine's clock."""

    revision: str
    flag: str
    flag_error_rate: float
    """The share of 500s of the new path, while the flag is on."""
    flag_on_to_anomaly: float
    """The flag turned on in Unleash → the controller decided to switch it off."""
    anomaly_to_flag_off: float
    """That decision → Unleash confirmed the flag off (the controller's status)."""
    flag_off_to_app_sees_off: float
    """Confirmed off → the canary's own Unleash SDK saw it off (its errors back to
    the baseline from then)."""
    requests_with_flag_on: int
    errors_with_flag_on: int
    """The canary's requests and errors from the flag on to its SDK seeing it off."""
    requests_after: int
    errors_after: int
    """And from then until the promotion."""
    stable_requests_after: int
    stable_errors_after: int
    """The stable's in that same time: the baseline to compare with."""
    to_promotion: float
    """Release → promoted, with the flag off (seconds on the demo's clock)."""


@dataclass(frozen=True, kw_only=True)
class Summary:
    healthy: HealthyRelease
    bad: BadRelease
    flagged: FlaggedRelease
    requests_sent: int
    """Requests the traffic generator sent while the releases ran (from v2 to the end)."""
    requests_unrouted: int
    """Of the request slots in that time, those that found no Ready pod."""
    requests_dropped: int
    """And those the generator skipped (fell behind, or too many in flight)."""
    requests_failed: int
    """Requests sent that got no answer at all (refused, timed out)."""
    network: str
    """Which data plane carried them (the cluster's network, or loopback)."""
    processes: list[int]
    """Pids the demo started (controller, Prometheus, apps): all stopped at the end."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def render(summary: Summary) -> str:
    healthy, bad = summary.healthy, summary.bad
    lines = [
        f"Healthy release (revision {healthy.revision}):",
        f"  release -> canary serving requests:           {healthy.to_canary_serving:6.1f}s",
        f"  release -> promoted automatically:            {healthy.to_promotion:6.1f}s",
    ]
    lines += [f"  judge at promotion: {m.describe()}" for m in healthy.judged]
    judged_requests = max((m.canary_requests for m in bad.judged), default=0.0)
    judged_bad = max((m.canary_bad for m in bad.judged), default=0.0)
    failed = [m for m in bad.judged if m.verdict == Verdict.FAIL]
    lines += [
        f"Bad release (revision {bad.revision}, {bad.error_rate:.0%} errors):",
        f"  release -> aborted by the analysis:           {bad.to_decision:6.1f}s"
        f"   (at step {bad.decided_at_step})",
        f"  release -> first canary requests counted:     {bad.to_first_counts:6.1f}s",
        f"  canary requests the judge used:               {judged_requests:6.0f}"
        f"    ({judged_bad:.0f} bad; fails at likelihood ratio {bad.fail_threshold:g})",
    ]
    lines += [f"    {m.describe()}" for m in failed or bad.judged]
    lines += [
        f"  release -> canary ReplicaSet at 0:            {bad.to_scaled_down:6.1f}s",
        f"  release -> last request served by it:         {bad.to_traffic_restored:6.1f}s",
        f"  requests that reached the bad revision:       {bad.served:6d}"
        f"    ({bad.served_errors} of them failed; the judge counts exact"
        f" counter deltas, never more than served)",
    ]
    flagged = summary.flagged
    after = flagged.errors_after / flagged.requests_after if flagged.requests_after else 0.0
    base = (
        flagged.stable_errors_after / flagged.stable_requests_after
        if flagged.stable_requests_after
        else 0.0
    )
    lines += [
        f"Release behind a flag (revision {flagged.revision}, {flagged.flag} on: "
        f"{flagged.flag_error_rate:.0%} errors; onAnomaly: DisableFlags):",
        f"  flag on -> anomaly, flag off decided:         {flagged.flag_on_to_anomaly:6.1f}s",
        f"  anomaly -> Unleash confirmed the flag off:    {flagged.anomaly_to_flag_off:6.2f}s",
        f"  flag off -> the canary's SDK saw it off:      {flagged.flag_off_to_app_sees_off:6.2f}s"
        "   (its errors back to the baseline from then)",
        f"  canary with the flag on: {flagged.requests_with_flag_on} requests, "
        f"{flagged.errors_with_flag_on} errors; after: {flagged.requests_after} requests, "
        f"{flagged.errors_after} errors ({after:.1%}; the stable meanwhile: "
        f"{flagged.stable_errors_after} of {flagged.stable_requests_after}, {base:.1%})",
        f"  release -> promoted with the flag off:        {flagged.to_promotion:6.1f}s",
    ]
    lines.append(
        f"Traffic during the releases ({summary.network}): {summary.requests_sent} requests"
        f" sent, {summary.requests_failed} got no answer, "
        f"{summary.requests_unrouted} found no Ready pod, "
        f"{summary.requests_dropped} skipped by the generator"
    )
    return "\n".join(lines)
