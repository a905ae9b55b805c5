"""The changing verbs: when they refuse, and the patch and Event they send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from controller.cli.changes import (
    REPORTING_CONTROLLER,
    confirmation,
    event_for,
    finished,
    outcome,
    paused_patch,
    refusal,
    request_patch,
)
from controller.core.world import Verb, parse_requests
from tests.unit.cli.samples import NOW, canary, healthy


@pytest.mark.parametrize(
    ("verb", "message"),
    [
        ("promote", "rollout shop/web has no canary running: nothing to promote"),
        ("abort", "rollout shop/web has no canary running: nothing to abort"),
        ("retry", "rollout shop/web has no blocked revision to retry"),
        ("resume", "rollout shop/web is not paused"),
    ],
)
def test_verbs_that_cannot_apply_to_a_healthy_rollout_are_refused(verb: str, message: str) -> None:
    assert refusal(verb, healthy()) == message


def test_rollback_is_refused_without_a_previous_stable_revision() -> None:
    rollout = healthy()
    del rollout["status"]["previousStableRevision"]

    assert refusal("rollback", rollout) == (
        "rollout shop/web has no previous stable revision to roll back to"
    )


def test_rollback_is_refused_while_a_canary_runs_or_a_rollback_is_under_way() -> None:
    rolling = healthy()
    rolling["status"]["rollingBackTo"] = "m2n4p6r8tv"

    assert refusal("rollback", canary()) == (
        "rollout shop/web has canary q8r4t6v2wz running: abort it instead of rolling back"
    )
    assert refusal("rollback", rolling) == "rollout shop/web is already rolling back to m2n4p6r8tv"


def test_pause_is_refused_when_already_paused() -> None:
    rollout = canary()
    rollout["spec"]["paused"] = True

    assert refusal("pause", rollout) == "rollout shop/web is already paused"
    assert refusal("resume", rollout) is None


def test_verbs_that_can_apply_are_not_refused() -> None:
    blocked = healthy()
    blocked["status"]["blockedRevision"] = "q8r4t6v2wz"

    assert [refusal(v, canary()) for v in ("promote", "abort", "pause")] == [None, None, None]
    assert refusal("rollback", healthy()) is None
    assert refusal("retry", blocked) is None


def test_a_rollout_without_status_refuses_request_verbs() -> None:
    rollout = canary()
    del rollout["status"]

    assert refusal("promote", rollout) is not None
    assert refusal("pause", rollout) is None


def test_pause_and_resume_merge_patch_spec_paused() -> None:
    assert paused_patch(True) == {"spec": {"paused": True}}
    assert paused_patch(False) == {"spec": {"paused": False}}


def test_request_annotation_is_read_back_by_the_controller_as_sent() -> None:
    at = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    patch = request_patch(
        "promote", request_id="r-1", by="alice", at=at, full=True, reason="looks good"
    )

    annotations = patch["metadata"]["annotations"]
    assert list(annotations) == ["request.landinggear.dev/promote"]
    (request,), errors = parse_requests(annotations)
    assert errors == []
    assert (request.verb, request.id, request.by) == (Verb.PROMOTE, "r-1", "alice")
    assert (request.full, request.reason) == (True, "looks good")
    assert request.at == at
    assert request.at.utcoffset() == timedelta(0)


def test_the_event_names_the_user_and_regards_the_rollout() -> None:
    event = event_for(
        canary(),
        verb="abort",
        user="alice",
        at=NOW,
        suffix="0123abcd",
        instance="landinggear-cli@laptop",
        reason="p99 latency",
    )

    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["metadata"] == {"name": "web.0123abcd", "namespace": "shop"}
    assert event["regarding"] == {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "namespace": "shop",
        "name": "web",
        "uid": "3584bf30-e375-4815-b000-7c011c775371",
        "resourceVersion": "4787",
    }
    assert (event["reason"], event["action"], event["type"]) == (
        "AbortRequested",
        "abort",
        "Normal",
    )
    assert event["note"] == "alice requested abort: p99 latency"
    assert event["reportingController"] == REPORTING_CONTROLLER
    assert event["eventTime"] == "2024-05-01T12:00:00.000000Z"


def test_a_full_promote_says_so_and_long_notes_are_cut() -> None:
    full = event_for(
        canary(), verb="promote", user="bob", at=NOW, suffix="s", instance="i", full=True
    )
    long = event_for(
        canary(), verb="abort", user="bob", at=NOW, suffix="s", instance="i", reason="x" * 2000
    )

    assert full["note"] == "bob requested full promote"
    assert len(long["note"]) == 1024


def test_confirmations_name_the_rollout_and_the_user() -> None:
    assert confirmation("pause", canary(), user="alice") == "Paused rollout shop/web (as alice)"
    assert confirmation("resume", canary(), user="alice") == "Resumed rollout shop/web (as alice)"
    assert confirmation("promote", canary(), user="bob", full=True) == (
        "Requested full promote of rollout shop/web (as bob)"
    )
    assert confirmation("rollback", canary(), user="bob") == (
        "Requested rollback of rollout shop/web (as bob)"
    )


def test_request_times_are_written_in_utc() -> None:
    patch = request_patch("retry", request_id="r", by="a", at=datetime(2024, 1, 1, tzinfo=UTC))

    assert (
        '"at": "2024-01-01T00:00:00+00:00"'
        in patch["metadata"]["annotations"]["request.landinggear.dev/retry"]
    )


def test_a_request_naming_a_key_twice_is_unreadable_so_admission_and_controller_agree() -> None:
    """Admission checks the first "by" (manifests/controller/admission.yaml); ``json``
    would keep the last: such a body is refused, never acted on as the second name."""
    key = "request.landinggear.dev/abort"
    raw = f'{{"at": "{NOW.isoformat()}", "by": "alice", "by": "bob", "id": "r1"}}'
    requests, errors = parse_requests({key: raw})
    assert requests == []
    assert errors == [f"ignored unreadable request annotation {key}: 'by' given twice"]
    requests, errors = parse_requests({key: '["by", "bob"]'})
    assert (requests, errors) == (
        [],
        [f"ignored unreadable request annotation {key}: not a JSON object"],
    )


def test_the_cli_writes_at_then_by_first_as_the_admission_policy_expects() -> None:
    patch = request_patch(
        "rollback", request_id="r1", by="system:serviceaccount:team:ci", at=NOW, reason="x"
    )
    raw = patch["metadata"]["annotations"]["request.landinggear.dev/rollback"]
    assert raw.startswith(f'{{"at": "{NOW.isoformat()}", "by": "system:serviceaccount:team:ci", "')


def test_the_outcome_is_told_once_the_controller_handled_that_very_request() -> None:
    rollout = healthy()
    assert outcome("rollback", "r2", rollout) is None  # not handled yet
    rollout["status"]["handledRequests"] = {"rollback": "r1", "abort": "r2"}
    assert outcome("rollback", "r2", rollout) is None  # an older rollback, another verb's id
    rollout["status"].update(
        handledRequests={"rollback": "r2"}, phase="Degraded", message="RolledBack by alice"
    )
    assert outcome("rollback", "r2", rollout) == "Degraded: RolledBack by alice"
    rollout["status"]["message"] = ""
    assert outcome("rollback", "r2", rollout) == "Degraded"


def test_a_rollback_is_finished_once_the_previous_revision_serves_other_verbs_at_once() -> None:
    rollout = healthy()
    rollout["status"]["rollingBackTo"] = "m2n4p6r8tv"
    assert not finished("rollback", rollout)
    assert finished("abort", rollout)
    assert finished("promote", rollout)
    rollout["status"]["rollingBackTo"] = None
    assert finished("rollback", rollout)
