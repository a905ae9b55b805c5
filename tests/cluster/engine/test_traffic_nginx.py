"""The NGINX router against the real API server (API-level: no ingress-nginx can run
here, so these tests read the canary Ingress the controller writes, not traffic).

The user's stable Ingress is never written; the controller owns a canary Ingress
cloned from it, whose ``canary-weight`` annotation follows the steps.
"""

from __future__ import annotations

import json
from typing import Any

from controller.kube.objects import ObjectKey
from controller.traffic.nginx import NginxRouter
from tests.support.routes_nginx import (
    CANARY_INGRESS,
    CANARY_SERVICE,
    STABLE_SERVICE,
    Recorder,
    create_rollout,
    events,
    ingress,
    nginx_app,
    weight,
)
from tests.support.scenario import Harness
from tests.support.waiting import eventually

P = "nginx.ingress.kubernetes.io/"


def _touch(harness: Harness) -> None:
    """A change to the Rollout, so the controller reconciles it now."""
    harness.kube.kubectl(
        "annotate", "rollout/web", f"--namespace={harness.namespace}", "--overwrite",
        f"example.com/touched={len(harness.controllers)}-{id(harness)}",
    )  # fmt: skip


def test_a_release_weighs_the_canary_ingress_as_each_step_says_and_never_writes_the_stable(
    harness: Harness,
) -> None:
    nginx_app(harness)
    stable_before = ingress(harness, "web")
    harness.start_controller()
    steps: list[dict[str, Any]] = [
        {"setWeight": 20},
        {"pause": {"duration": "1s"}},
        {"setWeight": 50},
        {"pause": {"duration": "1s"}},
        {"setWeight": 80},
        {"pause": {}},
    ]
    create_rollout(harness, steps, additional={"canary-by-cookie": "beta"})
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    eventually(lambda: weight(harness) == 0, timeout=30, what="canary Ingress at 0 when adopted")

    with Recorder(harness) as recorder:  # changes from now on
        harness.set_image("web:v2")
        v2 = harness.wait_status("at 80 %", currentStepIndex=5, canaryWeight=80)["canaryRevision"]
        harness.cli("promote", "web")
        harness.wait_status("promoted", phase="Healthy", stableRevision=v2)
        eventually(lambda: weight(harness) == 0, timeout=30, what="canary Ingress back at 0")
    print(f"canary Ingress weights during the release: {recorder.weights()}")
    assert v1 != v2

    assert recorder.weights() == [20, 50, 80, 0]  # the steps' weights, then all to stable
    assert ingress(harness, "web") == stable_before  # not a byte of the stable changed

    canary = ingress(harness, CANARY_INGRESS)
    assert canary is not None
    meta = canary["metadata"]
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "landinggear"}
    assert [(r["kind"], r["name"], r["controller"]) for r in meta["ownerReferences"]] == [
        ("Rollout", "web", True)
    ]
    assert meta["annotations"] == {
        P + "ssl-redirect": "false",
        "example.com/owner": "shop",
        P + "canary-by-cookie": "beta",
        P + "canary": "true",
        P + "canary-weight": "0",
        P + "canary-weight-total": "100",
    }
    assert canary["spec"]["ingressClassName"] == "nginx"
    assert canary["spec"]["tls"] == stable_before["spec"]["tls"]  # type: ignore[index]
    assert canary["spec"]["rules"] == [
        {
            "host": "shop.example",
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": CANARY_SERVICE, "port": {"number": 80}}},
                    }
                ]
            },
        }
    ]


def test_a_header_route_becomes_canary_by_header_until_the_promotion(harness: Harness) -> None:
    nginx_app(harness)
    harness.start_controller()
    route = {"name": "beta", "match": [{"headerName": "X-Beta", "headerValue": {"regex": "^on"}}]}
    create_rollout(harness, [{"setWeight": 10}, {"setHeaderRoute": route}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    harness.wait_status("header route set", currentStepIndex=2)

    annotations = (ingress(harness, CANARY_INGRESS) or {})["metadata"]["annotations"]
    assert annotations[P + "canary-by-header"] == "X-Beta"
    assert annotations[P + "canary-by-header-pattern"] == "^on"
    assert annotations[P + "canary-weight"] == "10"

    harness.cli("promote", "web")
    harness.wait_status("promoted", phase="Healthy")

    def header_gone() -> bool:
        found = (ingress(harness, CANARY_INGRESS) or {})["metadata"]["annotations"]
        return not any(k.startswith(P + "canary-by-header") for k in found)

    eventually(header_gone, timeout=30, what="canary-by-header removed")


def test_an_abort_reads_weight_0_back_before_the_canary_scales_down(harness: Harness) -> None:
    nginx_app(harness)
    harness.start_controller()
    create_rollout(harness, [{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    v2 = harness.wait_status("at 50 %", currentStepIndex=1, canaryWeight=50)["canaryRevision"]

    with Recorder(harness) as recorder:
        harness.cli("abort", "web", "--reason", "checkout errors")
        harness.wait_status("aborted", phase="Degraded", blockedRevision=v2)
        eventually(lambda: harness.replica_sets()[v2][0] == 0, timeout=30, what="canary at 0")

    routed_back = next(
        s.revision
        for s in recorder.seen
        if s.kind == "Ingress" and s.name == CANARY_INGRESS and s.value[P + "canary-weight"] == "0"
    )
    scaled_down = next(
        s.revision for s in recorder.seen if s.kind == "ReplicaSet" and s.value == (v2, 0)
    )
    print(f"weight 0 at revision {routed_back}, canary scaled to 0 at revision {scaled_down}")
    assert routed_back < scaled_down
    assert weight(harness) == 0  # kept at 0 while the Rollout lives


def test_a_hand_edit_of_the_weight_is_put_back_and_stable_edits_reach_the_canary(
    harness: Harness,
) -> None:
    nginx_app(harness)
    harness.start_controller()
    create_rollout(harness, [{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    harness.wait_status("at 50 %", currentStepIndex=1, canaryWeight=50)

    ns = f"--namespace={harness.namespace}"
    harness.kube.kubectl(
        "annotate", f"ingress/{CANARY_INGRESS}", ns, "--overwrite", P + "canary-weight=100"
    )
    new_path = {
        "path": "/api",
        "pathType": "Prefix",
        "backend": {"service": {"name": STABLE_SERVICE, "port": {"number": 8080}}},
    }
    harness.kube.kubectl(
        "patch", "ingress/web", ns, "--type=json",
        "-p", json.dumps([{"op": "add", "path": "/spec/rules/0/http/paths/-", "value": new_path}]),
    )  # fmt: skip
    stable_edited = ingress(harness, "web")
    _touch(harness)

    eventually(lambda: weight(harness) == 50, timeout=30, what="weight put back to 50")

    def synced() -> bool:
        canary = ingress(harness, CANARY_INGRESS) or {}
        paths = canary["spec"]["rules"][0]["http"]["paths"]
        return [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [
            ("/", CANARY_SERVICE),
            ("/api", CANARY_SERVICE),
        ]

    eventually(synced, timeout=30, what="the stable's new path in the canary Ingress")
    repaired = eventually(
        lambda: events(harness, "TrafficRepaired"), timeout=30, what="TrafficRepaired Event"
    )
    notes = " ".join(e.get("note", "") for e in repaired)
    print(f"TrafficRepaired: {notes}")
    assert "canary-weight 50 (was 100)" in notes
    assert repaired[0]["type"] == "Warning"
    assert ingress(harness, "web") == stable_edited  # the hand edit of the stable stays


def _routing_failed(harness: Harness) -> str:
    status = harness.wait_status("routing failed", phase="Degraded", timeout=30)
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "TrafficRoutingFailed"
    message: str = status["message"]
    return message


def test_a_missing_stable_ingress_degrades_the_rollout_and_touches_no_workload(
    harness: Harness,
) -> None:
    nginx_app(harness)
    harness.start_controller()
    create_rollout(harness, [{"setWeight": 50}, {"pause": {}}], stable_ingress="shop")
    message = _routing_failed(harness)
    assert "Ingress" in message
    assert "shop" in message
    assert "does not exist" in message
    assert harness.replica_sets() == {}  # not adopted: no ReplicaSet created
    assert harness.deployment().spec.replicas == 2
    assert ingress(harness, "web-shop-canary") is None


def test_an_ingress_of_the_canary_name_that_is_not_ours_is_refused(harness: Harness) -> None:
    nginx_app(harness)
    foreign = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": CANARY_INGRESS, "annotations": {"example.com/mine": "yes"}},
        "spec": {"rules": [{"host": "other.example"}]},
    }
    harness.apply(foreign)
    before = ingress(harness, CANARY_INGRESS)
    harness.start_controller()
    create_rollout(harness, [{"setWeight": 50}, {"pause": {}}])
    message = _routing_failed(harness)
    assert f"{CANARY_INGRESS} exists and is not this Rollout's" in message
    assert harness.replica_sets() == {}
    assert ingress(harness, CANARY_INGRESS) == before


def test_a_stable_ingress_without_the_stable_service_is_refused(harness: Harness) -> None:
    nginx_app(harness)
    ns = f"--namespace={harness.namespace}"
    harness.kube.kubectl(
        "patch", "ingress/web", ns, "--type=json",
        "-p", json.dumps([{"op": "remove", "path": "/spec/rules/0/http/paths/0"}]),
    )  # fmt: skip
    harness.start_controller()
    create_rollout(harness, [{"setWeight": 50}, {"pause": {}}])
    message = _routing_failed(harness)
    assert f"Service {STABLE_SERVICE} (stableService)" in message
    assert harness.replica_sets() == {}


def test_deleting_the_rollout_deletes_the_canary_ingress_only(harness: Harness) -> None:
    nginx_app(harness)
    harness.start_controller()
    create_rollout(harness, [{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    harness.wait_status("at 50 %", currentStepIndex=1, canaryWeight=50)
    stable_before = ingress(harness, "web")

    harness.kube.kubectl("delete", "rollout/web", f"--namespace={harness.namespace}")
    eventually(
        lambda: ingress(harness, CANARY_INGRESS) is None, timeout=30, what="canary Ingress gone"
    )
    assert ingress(harness, "web") == stable_before


def test_a_reconcile_with_nothing_to_change_writes_nothing(harness: Harness) -> None:
    nginx_app(harness)
    controller = harness.start_controller()
    create_rollout(harness, [{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    harness.wait_status("at 50 %", currentStepIndex=1, canaryWeight=50)
    controller.stop()
    before = {n: ingress(harness, n) for n in ("web", CANARY_INGRESS)}
    services = harness.kube.kubectl(
        "get", "services", f"--namespace={harness.namespace}", "-o", "json"
    ).stdout

    router = NginxRouter(harness.kube.api())
    for _ in range(3):
        reconciler, _ = harness.one_shot_reconciler(routers=[router])
        reconciler.reconcile(ObjectKey(harness.namespace, "web"))

    assert {n: ingress(harness, n) for n in ("web", CANARY_INGRESS)} == before
    assert (
        harness.kube.kubectl(
            "get", "services", f"--namespace={harness.namespace}", "-o", "json"
        ).stdout
        == services
    )
    assert harness.status()["canaryWeight"] == 50
