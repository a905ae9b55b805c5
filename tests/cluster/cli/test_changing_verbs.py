"""The changing verbs patch the Rollout and record an Event naming the user."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.cluster.cli.conftest import ADMIN, Cli

CANARY = {
    "phase": "Paused",
    "observedGeneration": 1,
    "currentStepIndex": 1,
    "canaryWeight": 20,
    "stableRevision": "b5c7d9f2xz",
    "canaryRevision": "q8r4t6v2wz",
    "replicas": 4,
}
HEALTHY = {
    "phase": "Healthy",
    "observedGeneration": 1,
    "stableRevision": "b5c7d9f2xz",
    "previousStableRevision": "m2n4p6r8tv",
    "replicas": 4,
}


def _request(cli: Cli, verb: str) -> dict[str, object]:
    annotations = cli.rollout()["metadata"].get("annotations") or {}
    body: dict[str, object] = json.loads(annotations[f"request.landinggear.dev/{verb}"])
    return body


def test_promote_full_writes_a_request_annotation_and_an_event_naming_the_user(cli: Cli) -> None:
    cli.create_rollout(status=CANARY)

    done = cli.run("promote", "web", "--full")

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Requested full promote of rollout {cli.namespace}/web (as {ADMIN})\n"
    request = _request(cli, "promote")
    assert (request["by"], request["full"]) == (ADMIN, True)
    assert len(str(request["id"])) >= 16
    at = datetime.fromisoformat(str(request["at"]))
    assert at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=1)
    (event,) = cli.events()
    assert event["reason"] == "PromoteRequested"
    assert event["note"] == f"{ADMIN} requested full promote"
    assert event["reportingController"] == "landinggear.dev/cli"
    assert (event["action"], event["type"]) == ("promote", "Normal")
    assert event["regarding"]["kind"] == "Rollout"


def test_each_request_gets_a_fresh_id(cli: Cli) -> None:
    cli.create_rollout(status=CANARY)

    assert cli.run("promote", "web").returncode == 0
    first = _request(cli, "promote")
    assert cli.run("promote", "web").returncode == 0
    second = _request(cli, "promote")

    assert first["id"] != second["id"]
    assert "full" not in second


@pytest.mark.parametrize(
    ("verb", "status"), [("abort", CANARY), ("rollback", HEALTHY)], ids=["abort", "rollback"]
)
def test_abort_and_rollback_record_the_reason(
    cli: Cli, verb: str, status: dict[str, object]
) -> None:
    cli.create_rollout(status=status)

    done = cli.run(verb, "web", "--reason", "p99 latency doubled")

    assert done.returncode == 0, done.stderr
    request = _request(cli, verb)
    assert (request["by"], request["reason"]) == (ADMIN, "p99 latency doubled")
    (event,) = cli.events()
    assert event["note"] == f"{ADMIN} requested {verb}: p99 latency doubled"


def test_retry_releases_a_blocked_revision(cli: Cli) -> None:
    cli.create_rollout(status={**HEALTHY, "phase": "Degraded", "blockedRevision": "q8r4t6v2wz"})

    assert cli.run("retry", "web").returncode == 0
    assert _request(cli, "retry")["by"] == ADMIN


def test_pause_and_resume_set_spec_paused_and_work_as_a_kubectl_plugin(cli: Cli) -> None:
    cli.create_rollout(status=CANARY)
    kubectl = str(cli.kube.kubectl_path)

    paused = cli.run("landinggear", "pause", "web", program=kubectl)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout == f"Paused rollout {cli.namespace}/web (as {ADMIN})\n"
    assert cli.rollout()["spec"]["paused"] is True

    resumed = cli.run("resume", "web", program="kubectl-landinggear")
    assert resumed.returncode == 0, resumed.stderr
    assert cli.rollout()["spec"]["paused"] is False
    assert sorted(e["reason"] for e in cli.events()) == ["PauseRequested", "ResumeRequested"]


@pytest.mark.parametrize(
    ("verb", "status", "why"),
    [
        ("promote", HEALTHY, "has no canary running: nothing to promote"),
        ("abort", HEALTHY, "has no canary running: nothing to abort"),
        ("retry", CANARY, "has no blocked revision to retry"),
        ("rollback", {**HEALTHY, "previousStableRevision": None}, "has no previous stable"),
        ("resume", CANARY, "is not paused"),
    ],
    ids=["promote", "abort", "retry", "rollback", "resume"],
)
def test_verbs_that_cannot_apply_are_refused_and_change_nothing(
    cli: Cli, verb: str, status: dict[str, object], why: str
) -> None:
    before = cli.create_rollout(status=status)

    refused = cli.run(verb, "web")

    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: rollout {cli.namespace}/web {why}")
    assert refused.stderr.count("\n") == 1
    assert refused.stdout == ""
    assert cli.rollout()["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert cli.events() == []


def test_a_missing_rollout_is_reported_by_name(cli: Cli) -> None:
    missing = cli.run("promote", "nope")

    assert missing.returncode == 1
    assert missing.stderr == f"error: rollout {cli.namespace}/nope not found\n"


def test_rollback_wait_with_no_controller_fails_by_its_timeout_and_the_request_stays(
    cli: Cli,
) -> None:
    cli.create_rollout(status=HEALTHY)
    started = time.monotonic()

    done = cli.run("rollback", "web", "--wait", "--timeout=2s")

    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("Requested rollback of rollout")
    assert "no controller acted on the rollback request within 2s" in done.stderr
    assert 2 <= took < 30, took
    assert _request(cli, "rollback")["by"] == ADMIN  # kept, for a controller to come


def test_rollback_wait_tells_what_the_controller_made_of_that_very_request(cli: Cli) -> None:
    """The test stands in for the controller here (no controller runs in these tests):
    it records the request as handled through the status subresource, as the controller
    does; the real controller's side is the demo test's rollback by hand."""
    cli.create_rollout(status={**HEALTHY, "handledRequests": {"rollback": "an older one"}})
    proc = cli.popen("rollback", "web", "--wait", "--timeout=60s")
    try:
        deadline = time.monotonic() + 30
        while "request.landinggear.dev/rollback" not in (
            cli.rollout()["metadata"].get("annotations") or {}
        ):
            assert time.monotonic() < deadline, "the CLI never wrote its request"
            time.sleep(0.2)
        time.sleep(1.0)  # the CLI polls, and sees the older handled id: it keeps waiting
        assert proc.poll() is None
        handled = {"rollback": _request(cli, "rollback")["id"]}
        cli.set_status(
            "web",
            {"phase": "Progressing", "rollingBackTo": "m2n4p6r8tv", "handledRequests": handled},
        )
        time.sleep(1.0)  # acted on, but the previous revision does not serve yet
        assert proc.poll() is None
        cli.set_status(
            "web",
            {
                "phase": "Degraded",
                "message": "RolledBack by landinggear-admin",
                "rollingBackTo": None,
                "stableRevision": "m2n4p6r8tv",
            },
        )
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "Done: Degraded: RolledBack by landinggear-admin"
