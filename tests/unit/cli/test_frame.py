"""``watch``: folding watch updates into what is drawn, and when ``--until-done`` stops."""

from __future__ import annotations

from typing import Any

import pytest

from controller.cli.frame import RECENT_EVENTS, Update, WatchState, frame, outcome
from tests.unit.cli.samples import NOW, canary, healthy
from tests.unit.cli.test_flags import with_flags


def _replica_set(revision: str, *, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{revision}",
            "uid": f"uid-{revision}",
            "labels": {"landinggear.dev/pod-template-hash": revision},
        },
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready, "availableReplicas": ready},
    }


def _event(uid: str, *, kind: str, name: str, minute: int, reason: str = "Note") -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "creationTimestamp": f"2024-05-01T11:{minute:02d}:00Z"},
        "involvedObject": {"kind": kind, "name": name},
        "type": "Normal",
        "reason": reason,
        "message": f"{reason} at {minute}",
    }


def test_frame_shows_step_weights_replica_sets_with_roles_and_recent_events() -> None:
    state = WatchState(name="web", rollout=canary())
    state.apply(
        Update(
            feed="replicasets",
            kind="SYNC",
            objects=(
                _replica_set("b5c7d9f2xz", replicas=3, ready=3),
                _replica_set("q8r4t6v2wz", replicas=1, ready=1),
            ),
        )
    )
    state.apply(
        Update(
            feed="events",
            kind="ADDED",
            objects=(_event("e1", kind="Rollout", name="web", minute=58, reason="StepStarted"),),
        )
    )

    text = frame(state, NOW)

    assert text.startswith("Rollout shop/web: Paused\n  Waiting for promote at step 2\n")
    assert "Step: 2/4 (pause until promoted)   Weight: canary 20% / stable 80%" in text
    assert "Pods ready: stable 3, canary 1, desired 4" in text
    assert "web-b5c7d9f2xz   stable   3         3       3" in text
    assert "web-q8r4t6v2wz   canary   1         1       1" in text
    assert "2m    Normal   StepStarted   Rollout/web   StepStarted at 58" in text


def test_only_events_about_this_rollout_and_its_replica_sets_are_shown() -> None:
    state = WatchState(name="web", rollout=canary())
    state.apply(
        Update(feed="replicasets", kind="SYNC", objects=(_replica_set("abc", replicas=1, ready=0),))
    )
    events = (
        _event("1", kind="Rollout", name="web", minute=1, reason="Ours"),
        _event("2", kind="ReplicaSet", name="web-abc", minute=2, reason="OurReplicaSet"),
        _event("3", kind="Rollout", name="web-api", minute=3, reason="OtherRollout"),
        _event("4", kind="ReplicaSet", name="web-api-xyz", minute=4, reason="OtherReplicaSet"),
        _event("5", kind="Pod", name="web-abc-123", minute=5, reason="PodEvent"),
    )
    state.apply(Update(feed="events", kind="SYNC", objects=events))

    assert [e["reason"] for e in state.recent_events()] == ["Ours", "OurReplicaSet"]


def test_recent_events_keep_the_newest_few_in_time_order() -> None:
    state = WatchState(name="web", rollout=canary())
    events = tuple(
        _event(str(m), kind="Rollout", name="web", minute=m) for m in reversed(range(20))
    )
    state.apply(Update(feed="events", kind="SYNC", objects=events))

    minutes = [e["message"] for e in state.recent_events()]
    assert minutes == [f"Note at {m}" for m in range(20 - RECENT_EVENTS, 20)]


def test_a_deleted_replica_set_disappears_and_a_sync_replaces_everything() -> None:
    state = WatchState(name="web", rollout=canary())
    old, new = _replica_set("old", replicas=0, ready=0), _replica_set("new", replicas=1, ready=1)
    state.apply(Update(feed="replicasets", kind="ADDED", objects=(old,)))
    state.apply(Update(feed="replicasets", kind="ADDED", objects=(new,)))
    state.apply(Update(feed="replicasets", kind="DELETED", objects=(old,)))
    assert list(state.replica_sets) == ["uid-new"]

    state.apply(Update(feed="replicasets", kind="SYNC", objects=()))
    assert state.replica_sets == {}


def test_rollout_updates_replace_it_and_its_deletion_is_noticed() -> None:
    state = WatchState(name="web", rollout=canary())
    state.apply(Update(feed="rollout", kind="MODIFIED", objects=(healthy(),)))
    assert state.rollout == healthy()

    state.apply(Update(feed="rollout", kind="SYNC", objects=()))
    assert state.deleted
    assert frame(state, NOW).startswith("Rollout shop/web: Deleted")


def test_a_failed_watch_is_shown_until_it_lists_again() -> None:
    state = WatchState(name="web", rollout=canary())
    state.apply(Update(feed="events", kind="FAILED", message="events is forbidden"))
    assert frame(state, NOW).endswith("(events watch: events is forbidden)")

    state.apply(Update(feed="events", kind="SYNC", objects=()))
    assert "forbidden" not in frame(state, NOW)


def test_until_done_stops_with_0_when_healthy_and_3_when_degraded() -> None:
    degraded = canary()
    degraded["status"]["phase"] = "Degraded"

    assert outcome(healthy()) == 0
    assert outcome(degraded) == 3
    assert outcome(canary()) is None


def test_until_done_counts_a_completed_condition_as_done() -> None:
    rollout = healthy()
    rollout["status"]["phase"] = "Progressing"

    assert outcome(rollout) == 0


@pytest.mark.parametrize("observed", [None, 1])
def test_until_done_ignores_a_status_older_than_the_spec(observed: int | None) -> None:
    rollout = healthy()
    rollout["status"]["observedGeneration"] = observed

    assert outcome(rollout) is None


def test_frame_shows_the_feature_flags_and_says_loudly_when_one_is_pending() -> None:
    quiet = frame(WatchState(name="web", rollout=with_flags(pending=False)), NOW)
    assert "Feature flags:" in quiet
    assert "new-checkout" in quiet
    assert "FLAGS PENDING" not in quiet

    loud = frame(WatchState(name="web", rollout=with_flags(pending=True)), NOW)
    assert "FLAGS PENDING" in loud

    assert "Feature flags:" not in frame(WatchState(name="web", rollout=canary()), NOW)
