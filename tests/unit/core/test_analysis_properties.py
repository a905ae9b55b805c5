"""Properties of analysed releases over arbitrary event sequences (hypothesis).

Events: time passing, pods becoming Ready, new templates (some bad), Prometheus
going down and coming back, user promotes, reconciles with the looks due. Then:
- the controller never promotes past a failing or inconclusive metric, nor past
  metrics that could not be measured for too long (only a user's promote
  overrides an inconclusive analysis);
- a failing guard always ends with the previous revision serving in full;
- after the events stop, the world settles: a further reconcile changes nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from controller.api.v1alpha1 import HistoryAction
from controller.core.world import Verb
from tests.unit.core.test_analysis_policies import AnalysedSim, Traffic

SPEC: dict[str, Any] = {
    "interval": "5s",
    "maxConsecutiveErrors": 2,
    "guard": {"duration": "60s"},
    "metrics": [
        {"name": "errors", "builtin": "app-errors"},
        {"name": "rule", "noData": "inconclusive",
         "threshold": {"query": "vector(1)", "success": "< 0.5", "interval": "10s"}},
    ],
}  # fmt: skip

steps_strategy = s.lists(
    s.one_of(
        s.builds(lambda w: {"setWeight": w}, s.integers(0, 100)),
        s.builds(lambda d: {"pause": {"duration": f"{d}s"}}, s.integers(0, 60)),
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
                assert metric.consecutive_errors <= 2, metric

    canary_analysis: Any = None
    user_promoted: bool = False

    def step(self) -> None:
        before = len(self.status.history)
        self.reconcile()
        if self.status.analysis is not None and self.status.analysis.stage == "Canary":
            self.canary_analysis = self.status.analysis
        if len(self.status.history) >= 20:  # the history is capped: compare entries, not length
            before = 0 if before > len(self.status.history) else before
        self.check_promotion(before)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_strategy, script=events)
def test_analysed_releases_never_promote_past_a_failing_or_inconclusive_metric(
    steps: list[dict[str, Any]], script: list[tuple[str, Any]]
) -> None:
    world = World(steps=steps, replicas=3, analysis_spec=SPEC, traffic=Traffic(rps=50))
    world.traffic.value = lambda _: world.rule_value
    world.settle()
    for kind, value in script:
        if kind == "ready":
            world.pods_ready()
        elif kind == "advance":
            world.advance(value)
        elif kind == "image":
            world.set_image(value)
            world.user_promoted = False
        elif kind == "bad":
            world.traffic.bad_rate[world.revision] = value
        elif kind == "prometheus":
            world.traffic.error = "" if value else "connection refused"
        elif kind == "rule":
            world.rule_value = value
        elif kind == "promote":
            world.request(Verb.PROMOTE, full=True)
            world.user_promoted = True
        else:
            world.step()
    # The events stop; Prometheus answers; time passes until nothing is left to do.
    world.traffic.error = ""
    for _ in range(40):
        world.advance(10)
        world.step()
        world.pods_ready()
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
