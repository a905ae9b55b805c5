"""Helpers for the chat-ops tests on the real API server: the on-call group's RBAC, a
paused canary, and the Events the chat-ops component recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tests.support.scenario import Harness

RBAC = "rbac.authorization.k8s.io"
REPORTING_CONTROLLER = "landinggear.dev/chatops"


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    note: str


def grant_oncall(harness: Harness) -> None:
    """The namespace's group ``payments-oncall`` may get and patch Rollouts; bob is in none."""
    harness.apply(
        {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "rollout-operator"},
         "rules": [{"apiGroups": ["landinggear.dev"], "resources": ["rollouts"],
                    "verbs": ["get", "patch"]}]}
    )  # fmt: skip
    harness.apply(
        {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": "oncall"},
         "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "rollout-operator"},
         "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "payments-oncall"}]}
    )  # fmt: skip


def paused_canary(harness: Harness) -> str:
    """``web`` adopted by a running controller, a release paused at 50 %; the stable."""
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    stable: str = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    harness.wait_status("paused at 50 %", currentStepIndex=1, timeout=60)
    return stable


def chatops_events(harness: Harness) -> list[Event]:
    """The chat-ops Events (read as JSON: the typed client rejects Events without eventTime)."""
    out = harness.kube.kubectl(
        "get", "events.v1.events.k8s.io", f"--namespace={harness.namespace}", "-o", "json"
    ).stdout
    return [
        Event(type=e.get("type", ""), reason=e.get("reason", ""), note=e.get("note", ""))
        for e in json.loads(out)["items"]
        if e.get("reportingController") == REPORTING_CONTROLLER
    ]
