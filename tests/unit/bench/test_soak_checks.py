"""The soak's judge, on hand-made histories: each invariant it checks fails when broken."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from controller.core.revisions import REVISION_LABEL, ROLLOUT_LABEL
from e2e.bench.soak.checks import Version, judge, overlapping_writers
from e2e.bench.soak.plan import FaultKind, Kind, Shape, make_plan
from e2e.bench.soak.timeline import ReplicaTimeline

pytestmark = pytest.mark.unit

STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "10s"}},
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
]
T0 = 1_000_000.0


def _at(seconds: float) -> str:
    return f"2026-11-29T10:00:{seconds:06.3f}+00:00"


class Story:
    """The stored versions of one Rollout released from v1 to v2."""

    def __init__(self, name: str = "r") -> None:
        self.name = name
        self.versions: list[Version] = []
        self.history: list[dict[str, Any]] = [{"action": "Adopted", "revision": "v1"}]
        self.status: dict[str, Any] = {"phase": "Healthy", "stableRevision": "v1"}
        self.store(0)

    def store(self, seen: float, **changes: Any) -> Story:
        self.status = {**self.status, **changes, "history": list(self.history)}
        self.versions.append(
            Version(
                name=self.name,
                revision=len(self.versions) + 1,
                seen=T0 + seen,
                obj={"status": dict(self.status)},
            )
        )
        return self

    def record(self, action: str, revision: str, reason: str = "") -> Story:
        self.history.append({"action": action, "revision": revision, "reason": reason})
        return self

    def release(self, *, pause: float = 10.0) -> Story:
        """Steps 0-3 with both pauses held ``pause`` seconds; the canary is v2."""
        self.record("ReleaseStarted", "v2")
        canary = {"canaryRevision": "v2", "phase": "Progressing"}
        self.store(1, **canary, currentStepIndex=0, stepStartedAt=_at(1), canaryWeight=20)
        self.store(2, **canary, currentStepIndex=1, stepStartedAt=_at(2), canaryWeight=20)
        self.store(2 + pause, currentStepIndex=2, stepStartedAt=_at(2 + pause), canaryWeight=50)
        three = 3 + pause
        return self.store(three, currentStepIndex=3, stepStartedAt=_at(three), canaryWeight=50)

    def promote(self, at: float = 30) -> Story:
        self.record("Promoted", "v2")
        self.store(at, stableRevision="v2", canaryRevision=None, currentStepIndex=None)
        return self.store(at + 40, phase="Healthy")

    def abort(self, at: float = 14, reason: str = "AnalysisFailed: errors") -> Story:
        self.record("Aborted", "v2", reason)
        return self.store(
            at, phase="Degraded", blockedRevision="v2", canaryRevision=None, currentStepIndex=None
        )


def _judge(story: Story, kind: Kind, sent: dict[str, list[float]] | None = None) -> Any:
    return judge(
        kinds={story.name: kind},
        versions=story.versions,
        steps=STEPS,
        sent={k: sorted(T0 + t for t in v) for k, v in (sent or {}).items()},
        api_down=[(T0 + 100, T0 + 112)],
        settle=3.0,
    )


def test_a_clean_promotion_and_a_clean_abort_are_right_and_break_nothing() -> None:
    good = _judge(Story().release().promote(), Kind.HEALTHY, {"v2": [5, 20, 60]})
    bad = _judge(Story().release().abort(), Kind.ERRORS, {"v2": [5, 14.5, 16.9]})
    for report, result in ((good, "promoted"), (bad, "aborted")):
        assert report.violations == []
        assert [(o.result, o.right) for o in report.outcomes] == [(result, True)]
    assert bad.outcomes[0].last_request_after_abort == pytest.approx(2.9)


def test_a_promoted_bad_canary_is_a_violation_and_a_wrong_outcome() -> None:
    report = _judge(Story().release().promote(), Kind.LATENCY)
    assert any("was promoted" in v for v in report.violations)
    assert not report.outcomes[0].right


def test_a_late_regression_may_be_promoted_then_rolled_back_by_the_guard() -> None:
    story = Story().release()
    story.record("Promoted", "v2").store(30, stableRevision="v2", canaryRevision=None)
    story.record("RolledBack", "v2", "GuardFailed: errors")
    story.store(50, stableRevision="v1", phase="Degraded", blockedRevision="v2")
    report = _judge(story, Kind.LATE)
    assert report.violations == []
    assert [(o.result, o.right) for o in report.outcomes] == [("rolled-back", True)]


def test_traffic_to_an_aborted_revision_after_the_settle_time_is_a_violation() -> None:
    report = _judge(Story().release().abort(), Kind.ERRORS, {"v2": [5, 18.0]})
    assert any("after its abort was stored" in v for v in report.violations)


def test_api_server_downtime_and_its_recovery_extend_the_settle_time() -> None:
    """Pods cannot leave the endpoints while the API server is away (down at 100-112),
    nor before the controller manager caught up (RECOVERY seconds more)."""
    story = Story().release().abort(at=99)
    assert _judge(story, Kind.ERRORS, {"v2": [110.0, 133.0]}).violations == []
    assert _judge(story, Kind.ERRORS, {"v2": [137.0]}).violations != []


def test_traffic_to_a_revision_being_rolled_back_is_allowed_until_the_rollback_completes() -> None:
    story = Story().release()
    story.record("Promoted", "v2").store(30, stableRevision="v2", canaryRevision=None)
    story.record("RolledBack", "v2", "GuardFailed: errors")
    story.store(50, rollingBackTo="v1")  # the previous revision is scaling up
    story.store(60, stableRevision="v1", phase="Degraded", blockedRevision="v2", rollingBackTo=None)
    assert _judge(story, Kind.LATE, {"v2": [58.0, 62.0]}).violations == []
    assert _judge(story, Kind.LATE, {"v2": [64.0]}).violations != []


def test_a_step_started_twice_is_a_violation() -> None:
    story = Story().release()
    story.store(13.5, currentStepIndex=3, stepStartedAt=_at(13.5))  # step 3 again
    report = _judge(story.promote(), Kind.HEALTHY)
    assert any("step 3 started 2 times" in v for v in report.violations)


def test_a_pause_cut_short_or_never_stored_is_a_violation() -> None:
    short = _judge(Story().release(pause=4).promote(), Kind.HEALTHY)
    assert any("held only 4.0s" in v for v in short.violations)

    story = Story().record("ReleaseStarted", "v2")
    canary = {"canaryRevision": "v2", "phase": "Progressing"}
    story.store(1, **canary, currentStepIndex=0, stepStartedAt=_at(1), canaryWeight=20)
    story.store(2, **canary, currentStepIndex=2, stepStartedAt=_at(2), canaryWeight=50)
    skipped = _judge(story.promote(), Kind.HEALTHY)
    assert any("step 1 (a pause) was never stored" in v for v in skipped.violations)


def test_steps_going_back_or_a_weight_above_the_step_are_violations() -> None:
    story = Story().release()
    story.store(14, currentStepIndex=1, canaryWeight=20)
    assert any("went back" in v for v in _judge(story.promote(), Kind.HEALTHY).violations)

    story = Story().record("ReleaseStarted", "v2")
    story.store(1, canaryRevision="v2", currentStepIndex=0, stepStartedAt=_at(1), canaryWeight=50)
    assert any("canary weight 50 at step 0" in v for v in _judge(story, Kind.HEALTHY).violations)


@pytest.mark.parametrize(
    ("kind", "reason", "right"),
    [
        (Kind.HEALTHY, "AnalysisFailed: errors", False),  # a false alarm is wrong
        (Kind.ERRORS, "AbortedByUser: by hand", False),  # aborted, but not by the analysis
        (Kind.LATE, "AnalysisFailed: errors", True),  # caught before the promotion
        (Kind.ERRORS, "AnalysisFailed: errors", True),
    ],
)
def test_the_reason_of_an_abort_decides_whether_it_was_right(
    kind: Kind, reason: str, right: bool
) -> None:
    report = _judge(Story().release().abort(reason=reason), kind)
    assert report.outcomes[0].right is right


def test_a_release_that_never_settles_or_never_started_is_wrong() -> None:
    assert _judge(Story().release(), Kind.HEALTHY).outcomes[0].result == "unsettled"
    assert _judge(Story(), Kind.HEALTHY).outcomes[0].detail == "never released"


def test_the_plan_mixes_kinds_and_schedules_every_fault_within_the_kill_period() -> None:
    plan = make_plan(Shape.quick(), seed=7)
    kinds = [r.kind for r in plan.releases]
    assert kinds.count(Kind.HEALTHY) == 8
    assert all(kinds.count(k) == 4 for k in list(Kind)[1:])
    assert plan.count(FaultKind.APISERVER_RESTART) == 2
    stop, start = (
        next(e.at for e in plan.events if e.kind is k)
        for k in (FaultKind.PROMETHEUS_STOP, FaultKind.PROMETHEUS_START)
    )
    assert start - stop == 60
    kills = [e.at for e in plan.events if e.kind in (FaultKind.CRASH, FaultKind.REPLACE)]
    gaps = [b - a for a, b in itertools.pairwise(kills)]
    assert kills[0] == 5
    assert all(10 <= g <= 30 for g in gaps)
    assert all(e.at <= Shape.quick().faults_for for e in plan.events)
    standby = (FaultKind.STANDBY_START, FaultKind.STANDBY_STOP)
    window = [e.at for e in plan.events if e.kind in standby]
    assert all(
        e.kind is FaultKind.REPLACE
        for e in plan.events
        if e.kind in (FaultKind.CRASH, FaultKind.REPLACE) and window[0] < e.at < window[1]
    )
    assert make_plan(Shape.quick(), seed=7) == plan


def test_writes_by_a_deposed_controller_after_its_successor_began_are_split_brain() -> None:
    clean = [(1.0, "a"), (2.0, "a"), (20.0, "b"), (21.0, "b"), (40.0, "a"), (41.0, "a")]
    assert overlapping_writers(clean, lease=15) == []  # a led again after b's lease expired
    overlap = [(1.0, "a"), (20.0, "b"), (20.5, "a"), (21.0, "b")]
    assert overlapping_writers(overlap, lease=15) == [
        "a wrote at 20.500 while b led (it wrote at 20.000 and 21.000)"
    ]


def _timeline(**points: list[tuple[float, int, int]]) -> dict[str, list[tuple[float, int, int]]]:
    return {revision: [(T0 + t, w, r) for t, w, r in p] for revision, p in points.items()}


def _judge_with(story: Story, sent: list[float], **points: list[tuple[float, int, int]]) -> Any:
    return judge(
        kinds={story.name: Kind.ERRORS},
        versions=story.versions,
        steps=STEPS,
        sent={"v2": sorted(T0 + t for t in sent)},
        api_down=[(T0 + 100, T0 + 112)],
        settle=3.0,
        replicas=_timeline(**points),
        full=4,
    )


# Aborted at 14: the controller wants v1 back to 4 and, once v1 serves, v2 at 0.
PROMPT_V1 = [(0, 4, 4), (3, 2, 2), (13.9, 4, 2)]


def test_a_slow_cluster_is_a_figure_and_a_late_controller_a_violation() -> None:
    """The controller manager took 40 s to make v1's pods Ready: traffic left v2 late,
    but the controller did its part at once (the soak's CI failure had this shape)."""
    slow = _judge_with(
        Story().release().abort(),
        [5, 30, 56.5],
        v1=[*PROMPT_V1, (54, 4, 4)],
        v2=[(1, 1, 1), (3, 2, 2), (54.2, 0, 2), (56, 0, 0)],
    )
    assert slow.violations == []
    assert slow.outcomes[0].cluster_took == pytest.approx(40 + 1.8)
    assert slow.outcomes[0].last_request_after_abort == pytest.approx(42.5)

    late = _judge_with(
        Story().release().abort(),
        [5, 26.5],
        v1=[*PROMPT_V1, (15, 4, 4)],
        v2=[(1, 1, 1), (3, 2, 2), (25, 0, 2), (26, 0, 0)],
    )
    assert late.violations == [
        "r: the controller scaled v2 to zero once v1 served 10.00s after (allowed 3.00s)"
    ]


def test_the_previous_revision_not_wanted_back_or_pods_kept_or_traffic_after_are_violations() -> (
    None
):
    never_back = _judge_with(
        Story().release().abort(), [5], v1=PROMPT_V1[:2], v2=[(1, 1, 1), (3, 2, 2)]
    )
    assert any("wanted v1 in full never" in v for v in never_back.violations)
    assert any("v1 never served in full" in v for v in never_back.violations)

    kept = _judge_with(
        Story().release().abort(),
        [5],
        v1=[*PROMPT_V1, (15, 4, 4)],
        v2=[(1, 1, 1), (3, 2, 2), (15.5, 0, 2)],
    )
    assert kept.violations == ["r: after its abort was stored, v2 kept Ready pods"]

    after = _judge_with(
        Story().release().abort(),
        [5, 22],
        v1=[*PROMPT_V1, (15, 4, 4)],
        v2=[(1, 1, 1), (3, 2, 2), (15.5, 0, 2), (16, 0, 0)],
    )
    assert after.violations == [
        "r: requests went to v2 once its pods left: the last 6.00s after (allowed 3.00s)"
    ]


def test_the_replica_timeline_keeps_change_points_and_a_vanished_revision_is_zero() -> None:
    def rs(revision: str, wanted: int, ready: int, rollout: str = "r") -> dict[str, Any]:
        labels = {REVISION_LABEL: revision, ROLLOUT_LABEL: rollout} if rollout else {}
        return {
            "metadata": {"labels": labels},
            "spec": {"replicas": wanted},
            "status": {"readyReplicas": ready},
        }

    timeline = ReplicaTimeline()
    timeline.observe(1.0, [rs("v1", 4, 4), rs("x", 9, 9, rollout="")])
    timeline.observe(2.0, [rs("v1", 4, 4), rs("v2", 1, 0)])
    timeline.observe(3.0, [rs("v1", 3, 3), rs("v2", 1, 1), rs("v2", 1, 1)])
    timeline.observe(4.0, [rs("v1", 4, 4)])
    assert timeline.points() == {
        "v1": [(1.0, 4, 4), (3.0, 3, 3), (4.0, 4, 4)],
        "v2": [(2.0, 1, 0), (3.0, 2, 2), (4.0, 0, 0)],
    }
