"""The pure step machine, scenario by scenario, on the in-memory world."""

from __future__ import annotations

from typing import Any

from controller.api.v1alpha1 import ConditionType, HistoryAction, Phase
from controller.core.actions import EnsureReplicaSet, SetCanaryWeight
from controller.core.decide import FINALIZER
from controller.core.steps import step_weight
from controller.core.traffic import canary_replicas
from controller.core.world import DESIRED_REPLICAS_ANNOTATION, Verb
from tests.unit.core.sim import Sim

STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {"duration": "30s"}},
    {"setWeight": 50},
    {"pause": {}},
]


def phase(sim: Sim) -> Phase:
    return sim.status.phase


def condition(sim: Sim, ctype: ConditionType) -> str:
    return next(c.status for c in sim.status.conditions if c.type == ctype)


def adopted(replicas: int = 3, steps: list[dict[str, Any]] | None = None) -> Sim:
    sim = Sim(steps=steps if steps is not None else STEPS, replicas=replicas)
    sim.settle()
    return sim


def test_adoption_keeps_the_deployment_serving_until_the_stable_is_ready() -> None:
    sim = Sim(steps=STEPS)
    sim.reconcile()
    stable = sim.status.stable_revision
    assert stable == sim.revision
    assert sim.rs_replicas(stable) == 3
    assert sim.deployment_paused  # no native rollout can start behind our back
    assert sim.deployment_replicas == 3  # still serving: our pods are not Ready yet
    assert phase(sim) is Phase.PROGRESSING

    sim.pods_ready(limit=2)
    sim.reconcile()
    assert sim.deployment_replicas == 3

    sim.pods_ready()
    sim.reconcile()
    assert sim.deployment_replicas == 0
    assert sim.deployment_annotations[DESIRED_REPLICAS_ANNOTATION] == "3"
    assert phase(sim) is Phase.HEALTHY
    assert condition(sim, ConditionType.COMPLETED) == "True"
    assert FINALIZER in sim.finalizers
    assert [h.action for h in sim.status.history] == [HistoryAction.ADOPTED]


def test_set_image_walks_the_steps_and_waits_for_promote() -> None:
    sim = adopted()
    stable = sim.status.stable_revision
    sim.set_image("web:v2")
    sim.reconcile()
    canary = sim.status.canary_revision
    assert canary == sim.revision
    assert sim.status.current_step_index == 0
    assert sim.status.step_progress == "1/4"  # kubectl get's STEP column counts from 1
    assert sim.rs_replicas(canary) == canary_replicas(20, 3) == 1
    assert sim.status.canary_weight == 0  # weight moves only once the canary pod is Ready

    sim.pods_ready()
    sim.reconcile()
    assert sim.status.canary_weight == 20
    assert sim.status.current_step_index == 1
    assert sim.status.step_progress == "2/4"
    assert phase(sim) is Phase.PAUSED
    assert sim.last is not None
    assert sim.last.requeue_after == 30

    sim.advance(29)
    sim.reconcile()
    assert sim.status.current_step_index == 1

    sim.advance(1)
    sim.reconcile()
    assert sim.status.current_step_index == 2
    assert sim.rs_replicas(canary) == canary_replicas(50, 3) == 2
    assert sim.rs_replicas(stable) == 3  # the stable keeps its full size

    sim.pods_ready()
    sim.reconcile()
    assert sim.status.current_step_index == 3
    assert sim.status.canary_weight == 50
    assert condition(sim, ConditionType.PAUSED) == "True"
    sim.advance(3600)
    sim.reconcile()
    assert sim.status.current_step_index == 3  # an indefinite pause waits for promote

    sim.request(Verb.PROMOTE)
    sim.reconcile()
    assert sim.rs_replicas(canary) == 3  # full size before it becomes stable
    assert sim.status.stable_revision == stable

    sim.pods_ready()
    sim.reconcile()
    assert sim.status.stable_revision == canary
    assert sim.status.previous_stable_revision == stable
    assert sim.rs_replicas(stable) == 0  # kept, at zero, for rollback
    assert stable is not None
    assert stable in set(sim.replica_sets)
    assert phase(sim) is Phase.HEALTHY
    assert condition(sim, ConditionType.COMPLETED) == "True"
    assert sim.status.history[-1].action is HistoryAction.PROMOTED


def test_promote_full_skips_every_remaining_step() -> None:
    sim = adopted()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    assert sim.status.current_step_index == 1
    sim.request(Verb.PROMOTE, full=True)
    sim.settle(rounds=2)
    assert sim.status.stable_revision == sim.revision
    assert phase(sim) is Phase.HEALTHY


def test_abort_routes_traffic_to_stable_before_scaling_the_canary_down() -> None:
    sim = adopted()
    stable = sim.status.stable_revision
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    canary = sim.status.canary_revision

    sim.request(Verb.ABORT)
    decision = sim.reconcile()

    kinds = [type(a) for a in decision.actions]
    weight_at = kinds.index(SetCanaryWeight)
    scale_down_at = next(
        i
        for i, a in enumerate(decision.actions)
        if isinstance(a, EnsureReplicaSet) and a.revision == canary and a.replicas == 0
    )
    assert weight_at < scale_down_at
    assert sim.rs_replicas(canary) == 0
    assert sim.rs_replicas(stable) == 3
    assert phase(sim) is Phase.DEGRADED
    assert sim.status.blocked_revision == canary
    assert condition(sim, ConditionType.ABORTED) == "True"
    assert "alice" in sim.status.message

    sim.advance(3600)
    sim.settle()
    assert sim.rs_replicas(canary) == 0  # the same template is not rolled out again

    sim.request(Verb.RETRY)
    sim.reconcile()
    assert sim.status.canary_revision == canary
    assert sim.status.current_step_index == 0
    assert sim.rs_replicas(canary) == 1
    assert condition(sim, ConditionType.ABORTED) == "False"


def test_changed_template_after_abort_starts_a_new_canary() -> None:
    sim = adopted()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    sim.request(Verb.ABORT)
    sim.settle(rounds=2)
    sim.set_image("web:v3")
    sim.reconcile()
    assert sim.status.canary_revision == sim.revision
    assert sim.status.blocked_revision is None
    assert phase(sim) is not Phase.DEGRADED


def test_rollback_restores_the_previous_revision_before_retiring_the_bad_one() -> None:
    sim = adopted(steps=[{"setWeight": 50}])
    v1 = sim.status.stable_revision
    sim.set_image("web:v2")
    sim.settle()
    v2 = sim.status.stable_revision
    assert v2 != v1
    assert sim.rs_replicas(v1) == 0

    sim.request(Verb.ROLLBACK)
    sim.reconcile()
    assert sim.rs_replicas(v1) == 3
    assert sim.rs_replicas(v2) == 3  # the bad one serves until the old one is Ready
    assert sim.status.stable_revision == v2

    sim.pods_ready()
    sim.reconcile()
    assert sim.status.stable_revision == v1
    assert sim.rs_replicas(v2) == 0
    assert sim.status.blocked_revision == v2
    assert phase(sim) is Phase.DEGRADED
    assert sim.status.history[-1].action is HistoryAction.ROLLED_BACK
    assert sim.status.history[-1].by == "alice"

    sim.advance(600)
    sim.settle()
    assert sim.rs_replicas(v2) == 0  # not re-rolled while the template is unchanged


def test_new_template_mid_canary_restarts_at_step_zero() -> None:
    sim = adopted()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    sim.advance(30)
    sim.settle(rounds=2)
    v2 = sim.status.canary_revision
    assert sim.status.current_step_index == 3

    sim.set_image("web:v3")
    sim.reconcile()
    assert sim.status.canary_revision == sim.revision != v2
    assert sim.status.current_step_index == 0
    assert sim.rs_replicas(v2) == 0
    assert sim.status.history[-2].action is HistoryAction.SUPERSEDED


def test_progress_deadline_aborts_a_canary_that_never_becomes_ready() -> None:
    sim = adopted()
    sim.progress_deadline = 60
    sim.set_image("web:v2")
    sim.reconcile()
    assert sim.last is not None
    assert sim.last.requeue_after == 60
    sim.advance(59)
    sim.reconcile()
    assert phase(sim) is Phase.PROGRESSING
    sim.advance(1)
    sim.reconcile()
    assert phase(sim) is Phase.DEGRADED
    assert "ProgressDeadlineExceeded" in sim.status.message
    assert "0/1 pods available" in sim.status.message


def test_timed_pause_ends_on_time_however_rarely_it_is_reconciled() -> None:
    sim = adopted()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    assert sim.status.current_step_index == 1
    sim.advance(45)  # the controller was down for the whole pause
    sim.reconcile()
    assert sim.status.current_step_index == 2


def test_lost_status_write_repeats_no_step_and_regresses_no_traffic() -> None:
    sim = adopted()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    sim.advance(30)
    canary = sim.status.canary_revision
    before = sim.status

    sim.reconcile(write_status=False)  # scaled to 50 %, then the process died
    assert sim.rs_replicas(canary) == 2
    assert sim.status == before

    sim.reconcile()  # the restarted controller
    assert sim.rs_replicas(canary) == 2
    assert sim.status.current_step_index == 2


def test_a_request_is_acted_on_once() -> None:
    sim = adopted()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    sim.request(Verb.PROMOTE)
    sim.reconcile()
    index = sim.status.current_step_index
    sim.reconcile()
    sim.reconcile()
    assert sim.status.current_step_index == index


def test_user_pause_holds_the_step_and_resume_continues() -> None:
    sim = adopted()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    sim.paused = True
    sim.advance(600)
    sim.settle()
    assert sim.status.current_step_index == 1
    assert phase(sim) is Phase.PAUSED
    sim.paused = False
    sim.reconcile()
    assert sim.status.current_step_index == 2


def test_deletion_hands_the_deployment_back_before_letting_go() -> None:
    sim = adopted()
    sim.deleting = True
    sim.reconcile()
    assert sim.deployment_replicas == 3
    assert not sim.deployment_paused
    assert FINALIZER in sim.finalizers  # its pods are not available yet

    sim.pods_ready()
    sim.reconcile()
    assert FINALIZER not in sim.finalizers


def test_step_weight_is_the_last_set_weight_at_or_before_the_step() -> None:
    from controller.api.v1alpha1 import Step

    steps = [Step.model_validate(s) for s in STEPS]
    assert [step_weight(steps, i) for i in range(5)] == [20, 20, 50, 50, 100]
    assert step_weight([Step.model_validate({"pause": {}})], 0) == 0


def test_a_lost_promotion_record_then_a_revert_never_leaves_nothing_serving() -> None:
    sim = adopted(replicas=1, steps=[])
    v1 = sim.status.stable_revision
    sim.set_image("web:v2")
    sim.reconcile()
    sim.pods_ready()
    sim.reconcile(write_status=False)  # promoted v2 and scaled v1 down; the record was lost
    v2 = sim.revision
    assert sim.available(v2) == 1
    assert sim.rs_replicas(v1) == 0

    sim.set_image("web:v1")  # the user reverts; our record still says v1 is stable
    sim.reconcile()
    assert sim.available(v1) + sim.available(v2) >= 1  # v2 serves until v1 is Ready
    sim.pods_ready()
    sim.settle()
    assert sim.status.stable_revision == v1
    assert sim.available(v1) == 1
    assert sim.rs_replicas(v2) == 0


def labelled(sim: Sim) -> bool:
    """Whether the Deployment carries our label (a call: mypy does not narrow it)."""
    return sim.deployment_labelled


def test_adoption_labels_the_deployment_and_deletion_unlabels_it_last() -> None:
    sim = Sim(steps=STEPS)
    sim.reconcile()
    assert labelled(sim)  # watched from the first patch on
    sim.settle()
    sim.deleting = True
    sim.reconcile()
    assert labelled(sim)  # its pods becoming available are still watched

    sim.pods_ready()
    sim.reconcile()
    assert not labelled(sim)
    assert FINALIZER not in sim.finalizers


def test_a_label_dropped_by_a_users_apply_is_put_back_and_nothing_else_changes() -> None:
    sim = adopted()
    replicas, annotations = sim.deployment_replicas, dict(sim.deployment_annotations)
    sim.deployment_labelled = False
    sim.reconcile()
    assert labelled(sim)
    assert (sim.deployment_replicas, sim.deployment_annotations) == (replicas, annotations)
    assert sim.reconcile().actions == ()


def test_a_rollout_whose_deployment_is_missing_looks_for_it_again_soon() -> None:
    from controller.core.decide import WORKLOAD_RECHECK, decide
    from controller.core.world import World

    sim = Sim(steps=STEPS)
    decision = decide(sim.rollout(), World(deployment=None), sim.now)
    assert decision.status.phase is Phase.DEGRADED
    assert decision.requeue_after == WORKLOAD_RECHECK.total_seconds()
