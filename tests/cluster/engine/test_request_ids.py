"""A request annotation with an id the status cannot keep (over 128 characters) is
refused with a Warning Event, and the controller goes on writing the status; it used
to act on it and then fail every status write (422), wedging the Rollout."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from controller.api.v1alpha1 import MAX_REQUEST_ID
from tests.cluster.cli.conftest import ADMIN
from tests.support.routes_nginx import events
from tests.support.scenario import Harness
from tests.support.waiting import eventually


def test_an_over_long_request_id_is_refused_and_the_release_goes_on(harness: Harness) -> None:
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    request = {
        "id": "x" * (MAX_REQUEST_ID + 1),
        "by": ADMIN,  # admission wants the writer (manifests/controller/admission.yaml)
        "at": datetime.now(UTC).isoformat(),
    }
    harness.kube.kubectl(
        "annotate", "rollouts.landinggear.dev/web", f"--namespace={harness.namespace}",
        f"request.landinggear.dev/promote={json.dumps(request, sort_keys=True)}",
    )  # fmt: skip

    [refused] = eventually(
        lambda: events(harness, "RequestIgnored"), timeout=30, what="RequestIgnored Event"
    )
    assert refused["type"] == "Warning"
    assert refused["note"].startswith(
        f"promote by {ADMIN} refused: its id is 129 characters long, at most 128 are allowed"
    )
    assert harness.status()["handledRequests"]["promote"].startswith("sha256:")

    harness.set_image("web:v2")
    status = harness.wait_status("canary at its pause", currentStepIndex=1, timeout=30)
    assert status["canaryWeight"] == 50
    assert len(events(harness, "RequestIgnored")) == 1  # told once
