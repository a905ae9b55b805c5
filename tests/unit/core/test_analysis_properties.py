"""Properties of analysed releases over arbitrary event sequences (hypothesis).

Events: time passing, pods becoming Ready, new templates (some bad), Prometheus
going down and coming back, user promotes, reconciles with the looks due. Then:
- the controller never promotes past a failing or inconclusive metric, nor past
  metrics that could not be measured for too long, nor a canary a comparison
  has no data for (only a user's promote overrides an inconclusive analysis);
- while the analysis holds (a metric inconclusive, or failing to measure too
  often) the release does not move on to a later step, unless a user promoted;
- a failing guard always ends with the previous revision serving in full;
- after the events stop, the world settles: a further reconcile changes nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as s

from controller.api.analysis import MetricStatus, Stage, Verdict
from controller.api.v1alpha1 import HistoryAction, RolloutStatus
from controller.core.world import Verb
from tests.unit.core.analysed import AnalysedSim, Traffic

ERROR_LIMIT = 2


def spec(no_data: str) -> dict[str, Any]:
    """The analysis; ``no_data`` is the comparison's policy (``fail`` or ``inconclusive``)."""
    return {
        "interval": "5s",
        "maxConsecutiveErrors": ERROR_LIMIT,
        "guard": {"duration": "60s"},
        "metrics": [
            {"name": "errors", "builtin": "app-errors", "noData": no_data},
            {"name": "rule", "noData": "inconclusive",
             "threshold": {"query": "vector(1)", "success": "< 0.5", "interval": "10s"}},
        ],
    }  # fmt: skip


steps_strategy = s.lists(
    s.one_of(
        s.builds(lambda w: {"setWeight": w}, s.integers(0, 100)),
        s.builds(lambda d: {"pause": {"duration": f"{d}s"}}, s.integers(1, 60)),
        s.builds(lambda d: {"analysis": {"maxDuration": f"{d}s"}}, s.integers(1, 90)),
    ),
    max_size=4,
)
_VALUES: dict[str, s.SearchStrategy[Any]] = {
    "reconcile": s.just(0),
    "ready": s.just(0),
    "advance": s.integers(1, 40),
    "image": s.sampled_from(["web:v1", "web:v2", "web:v3"]),
    "bad": s.sampled_from([0.0, 0.01, 0.2]),
    "prometheus": s.booleans(),
    "rule": s.sampled_from([0.1, 0.9, None]),
    "promote": s.just(0),
}
_KINDS = [*["reconcile"] * 6, *["ready"] * 3, *["advance"] * 4, *_VALUES]
events = s.lists(
    s.sampled_from(_KINDS).flatmap(lambda kind: s.tuples(s.just(kind), _VALUES[kind])),
    max_size=60,
)


class World(AnalysedSim):
    rule_value: float | None = 0.1

    def check_promotion(self, before: int) -> None:
        new = self.status.history[before:] if len(self.status.history) > before else []
        for entry in new:
            if entry.action is not HistoryAction.PROMOTED or entry.by != "controller":
                continue
            analysis = self.canary_analysis
            if analysis is None or analysis.revision != entry.revision:
                continue
            if analysis.overridden_by is not None or self.user_promoted:
                continue  # a user's promote overrides an inconclusive analysis
            for metric in analysis.metrics:
                assert metric.verdict not in ("Fail", "Inconclusive"), metric
                assert metric.consecutive_errors <= ERROR_LIMIT, metric
                if metric.name == "errors":  # a comparison: both revisions served
                    canary, stable = self.counted(metric)
                    assert canary > 0, f"promoted without canary data: {metric}"
                    assert stable > 0, f"promoted without stable data: {metric}"

    def counted(self, metric: MetricStatus) -> tuple[float, float]:
        """A comparison's counts as judged at the promotion: the last snapshot, or the
        cumulative counts of the look folded in by the promoting reconcile."""
        canary, stable = metric.canary_requests, metric.stable_requests
        looked = self.looked
        if looked is not None and looked.stage == Stage.CANARY:
            for result in looked.results:
                if result.metric == metric.name and result.window is not None:
                    canary = max(canary, result.window.canary_requests)
                    stable = max(stable, result.window.stable_requests)
        return canary, stable

    def check_holds(self, prior: RolloutStatus) -> None:
        """While the analysis holds, the step index does not move on (unless a user promoted)."""
        now = self.status
        analysis = now.analysis
        if (
            analysis is None
            or analysis.stage != Stage.CANARY
            or analysis.overridden_by is not None
            or now.canary_revision is None
            or now.canary_revision != prior.canary_revision
            or now.current_step_index is None
            or self.promoted_since_step
        ):
            return
        holding = [
            m
            for m in analysis.metrics
            if m.verdict == Verdict.INCONCLUSIVE or m.consecutive_errors > ERROR_LIMIT
        ]
        if holding:
            assert now.current_step_index <= (prior.current_step_index or 0), (
                f"moved from step {prior.current_step_index} to {now.current_step_index} "
                f"while held by {holding}"
            )

    canary_analysis: Any = None
    user_promoted: bool = False
    promoted_since_step: bool = False

    def play(self, kind: str, value: Any) -> None:
        """One event of an ``events`` script."""
        if kind == "ready":
            self.pods_ready()
        elif kind == "advance":
            self.advance(value)
        elif kind == "image":
            self.set_image(value)
            self.user_promoted = False
        elif kind == "bad":
            self.traffic.bad_rate[self.revision] = value
        elif kind == "prometheus":
            self.traffic.error = "" if value else "connection refused"
        elif kind == "rule":
            self.rule_value = value
        elif kind == "promote":
            self.request(Verb.PROMOTE, full=True)
            self.user_promoted = self.promoted_since_step = True
        else:
            self.step()

    def step(self) -> None:
        before = len(self.status.history)
        prior = self.status
        self.reconcile()
        self.check_holds(prior)
        self.promoted_since_step = False
        if self.status.analysis is not None and self.status.analysis.stage == "Canary":
            self.canary_analysis = self.status.analysis
        if len(self.status.history) >= 20:  # the history is capped: compare entries, not length
            before = 0 if before > len(self.status.history) else before
        self.check_promotion(before)


# Found by re-injecting bugs into the core (kept so they are always tried):
# Prometheus down mid-release — steps must not advance past the errors-in-a-row hold.
_DOWN_MID_RELEASE = [
    ("image", "web:v2"), ("reconcile", 0), ("ready", 0), ("reconcile", 0),
    ("prometheus", False), *[("advance", 5), ("reconcile", 0), ("ready", 0)] * 8,
]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=steps_strategy,
    script=events,
    no_data=s.sampled_from(["inconclusive", "fail"]),
)
@example(
    steps=[{"setWeight": 50}, {"pause": {"duration": "30s"}}, {"setWeight": 80}],
    script=_DOWN_MID_RELEASE,
    no_data="inconclusive",
)
@example(steps=[{"setWeight": 0}], script=[("image", "web:v2"), ("reconcile", 0)], no_data="fail")
# A threshold rule behind its look schedule (reconciles further apart than its
# interval) once held a pause, and the promotion, forever as "overdue".
@example(
    steps=[{"pause": {"duration": "1s"}}],
    script=[("image", "web:v2"), ("reconcile", 0), ("reconcile", 0), ("advance", 20)],
    no_data="inconclusive",
)
@example(
    steps=[],
    script=[("image", "web:v2"), ("reconcile", 0), ("promote", 0), ("advance", 10)],
    no_data="inconclusive",
)
# An expired analysis step that passes only after ~6 minutes outlasted the old
# fixed settling time.
@example(
    steps=[{"pause": {"duration": "21s"}}, {"setWeight": 18}, {"analysis": {"maxDuration": "1s"}}],
    script=[("image", "web:v2")],
    no_data="inconclusive",
)
def test_analysed_releases_never_promote_past_a_failing_or_inconclusive_metric(
    steps: list[dict[str, Any]], script: list[tuple[str, Any]], no_data: str
) -> None:
    world = World(steps=steps, replicas=3, analysis_spec=spec(no_data), traffic=Traffic(rps=50))
    world.traffic.value = lambda _: world.rule_value
    world.settle()
    for kind, value in script:
        world.play(kind, value)
    # The events stop; Prometheus answers; time passes until nothing is left to do
    # (an expired analysis step holds until its metric passes, which at a low
    # canary share can take many minutes: up to ~70 simulated minutes are given).
    world.traffic.error = ""
    for turn in range(400):
        phase = world.status.phase
        world.advance(10)
        world.step()
        world.pods_ready()
        quiet = world.last is not None and not world.last.actions
        if turn >= 40 and quiet and world.status.phase == phase:
            break
    guard_failed = [h for h in world.status.history if "GuardFailed" in h.reason]
    if guard_failed and guard_failed[-1] is world.status.history[-1]:
        stable = world.status.stable_revision
        assert stable != guard_failed[-1].revision  # the guarded revision was rolled back
        assert f"back to {stable})" in guard_failed[-1].reason
        assert world.available(stable) == world.replicas
    settled = world.status
    world.advance(1)
    world.reconcile()
    world.pods_ready()
    assert world.last is not None
    assert not world.last.actions, world.last.actions
    assert world.status.phase == settled.phase
