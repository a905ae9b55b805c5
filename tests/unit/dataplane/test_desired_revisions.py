"""Which demo apps run, and how they behave, is read from ReplicaSets alone."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.dataplane.desired import Behaviour, RevisionKey, behaviour_from_env, desired_revisions


def replicaset(
    revision: str,
    *,
    available: int = 1,
    ready: int | None = None,
    env: list[dict[str, Any]] | None = None,
    rollout: str | None = "web",
) -> dict[str, Any]:
    labels = {"landinggear.dev/pod-template-hash": revision}
    if rollout:
        labels["landinggear.dev/rollout"] = rollout
    container: dict[str, Any] = {"name": "app", "image": "x"}
    if env is not None:
        container["env"] = env
    return {
        "metadata": {"name": f"web-{revision}", "labels": labels},
        "spec": {"template": {"spec": {"containers": [container, {"name": "sidecar"}]}}},
        "status": {
            "availableReplicas": available,
            "readyReplicas": available if ready is None else ready,
        },
    }


def test_absent_variables_mean_a_healthy_app() -> None:
    assert behaviour_from_env(None) == Behaviour()
    assert behaviour_from_env([{"name": "OTHER", "value": "1"}]) == Behaviour()


def test_variables_set_error_rate_and_latency() -> None:
    env = [
        {"name": "ERROR_RATE", "value": "0.5"},
        {"name": "LATENCY_MS", "value": "120"},
        {"name": "LATENCY_JITTER_MS", "value": "15.5"},
        {"name": "ERRORS_AFTER_SECONDS", "value": "40"},
    ]
    assert behaviour_from_env(env) == Behaviour(
        error_rate=0.5, latency_ms=120, latency_jitter_ms=15.5, errors_after_seconds=40
    )


def test_variables_from_references_count_as_absent() -> None:
    env = [{"name": "ERROR_RATE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]
    assert behaviour_from_env(env) == Behaviour()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ERROR_RATE", "1.5"),
        ("ERROR_RATE", "-0.1"),
        ("ERROR_RATE", "half"),
        ("ERROR_RATE", "nan"),
        ("LATENCY_MS", "-5"),
        ("LATENCY_MS", "inf"),
    ],
)
def test_malformed_variables_are_rejected_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        behaviour_from_env([{"name": name, "value": value}])


def test_only_revisions_with_available_replicas_are_served() -> None:
    wanted, problems = desired_revisions(
        [replicaset("aaa", available=3), replicaset("bbb", available=0), replicaset("ccc")]
    )
    assert sorted(key.revision for key in wanted) == ["aaa", "ccc"]
    assert problems == []


def test_replicasets_without_both_labels_are_ignored() -> None:
    wanted, _ = desired_revisions([replicaset("aaa", rollout=None)])
    assert wanted == {}


def test_traffic_weight_is_the_ready_count_and_behaviour_the_first_container_env() -> None:
    rs = replicaset("bad", available=1, ready=2, env=[{"name": "ERROR_RATE", "value": "0.5"}])
    wanted, _ = desired_revisions([rs])
    bad = wanted[RevisionKey(rollout="web", revision="bad")]
    assert (bad.ready, bad.behaviour.error_rate, bad.replicaset) == (2, 0.5, "web-bad")
    assert bad.target_labels("ns") == {"namespace": "ns", "rollout": "web", "revision": "bad"}


def test_a_malformed_replicaset_is_skipped_with_a_message_naming_it() -> None:
    wanted, problems = desired_revisions(
        [replicaset("odd", env=[{"name": "LATENCY_MS", "value": "soon"}]), replicaset("ok")]
    )
    assert [key.revision for key in wanted] == ["ok"]
    assert len(problems) == 1
    assert "web-odd" in problems[0]
    assert "LATENCY_MS" in problems[0]
