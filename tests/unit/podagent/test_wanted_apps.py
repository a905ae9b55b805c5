"""Which pods want a demo app, and how it listens and behaves."""

from __future__ import annotations

from typing import Any

from e2e.dataplane.desired import Behaviour
from e2e.podagent.wanted import DEFAULT_PORT, is_serving, wanted_apps


def pod(
    name: str,
    *,
    demo_app: str | None = "true",
    phase: str = "Running",
    ip: str | None = "10.244.0.7",
    labels: dict[str, str] | None = None,
    ports: list[int] | None = None,
    env: dict[str, str] | None = None,
    deleting: bool = False,
    serving: bool = False,
) -> dict[str, Any]:
    annotations = {}
    if demo_app is not None:
        annotations["landinggear.dev/demo-app"] = demo_app
    if serving:
        annotations["landinggear.dev/serving"] = "true"
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "shop",
        "uid": f"uid-{name}",
        "labels": labels or {},
        "annotations": annotations,
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    container: dict[str, Any] = {
        "name": "app",
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
    }
    if ports:
        container["ports"] = [{"containerPort": p} for p in ports]
    status: dict[str, Any] = {"phase": phase}
    if ip:
        status["podIP"] = ip
    return {"metadata": meta, "spec": {"containers": [container]}, "status": status}


def test_only_running_annotated_pods_with_an_ip_that_are_not_deleted_want_an_app() -> None:
    wanted, problems = wanted_apps(
        [
            pod("yes"),
            pod("plain", demo_app=None),
            pod("false", demo_app="false"),
            pod("pending", phase="Pending", ip=None),
            pod("no-ip", ip=None),
            pod("terminating", deleting=True),
        ]
    )
    assert sorted(app.name for app in wanted.values()) == ["yes"]
    assert problems == []


def test_the_app_listens_on_the_pod_ip_and_first_container_port() -> None:
    wanted, _ = wanted_apps([pod("a", ports=[9090, 9091]), pod("b", ip="10.244.0.8")])
    a, b = wanted["uid-a"], wanted["uid-b"]
    assert (a.ip, a.port, a.pod) == ("10.244.0.7", 9090, "shop/a")
    assert (b.ip, b.port) == ("10.244.0.8", DEFAULT_PORT)


def test_the_revision_is_landing_gears_label_then_deployments_then_the_pod_name() -> None:
    wanted, _ = wanted_apps(
        [
            pod(
                "lg",
                labels={"landinggear.dev/pod-template-hash": "abc", "pod-template-hash": "x"},
            ),
            pod("deploy", labels={"pod-template-hash": "def"}),
            pod("bare"),
        ]
    )
    assert {app.name: app.revision for app in wanted.values()} == {
        "lg": "abc",
        "deploy": "def",
        "bare": "bare",
    }


def test_behaviour_comes_from_the_env_and_a_malformed_env_skips_the_pod() -> None:
    wanted, problems = wanted_apps(
        [
            pod("slow", env={"LATENCY_MS": "30", "ERROR_RATE": "0.2"}),
            pod("broken", env={"ERROR_RATE": "lots"}),
        ]
    )
    assert [app.behaviour for app in wanted.values()] == [
        Behaviour(latency_ms=30.0, error_rate=0.2)
    ]
    assert problems == ["Pod shop/broken: ERROR_RATE='lots' is not a number"]


def test_serving_is_read_from_the_agents_annotation() -> None:
    assert is_serving(pod("a", serving=True))
    assert not is_serving(pod("a"))
