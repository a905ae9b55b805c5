"""kwok's Stages: demo-app pods wait for the pod agent before they are Ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.localcluster import build, stages

POD_READY = "kustomize/stage/pod/fast/pod-ready.yaml"

UPSTREAM = {
    path: yaml.safe_dump(
        {
            "kind": "Stage",
            "metadata": {"name": path.rsplit("/", 1)[1].removesuffix(".yaml")},
            "spec": {"selector": {"matchExpressions": [{"key": ".x", "operator": "Exists"}]}},
        }
    )
    for path in build.KWOK_STAGES
}


def _by_name(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {stage["metadata"]["name"]: stage for stage in found}


def _keys(stage: dict[str, Any]) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {
        expr["key"]: (expr["operator"], tuple(expr.get("values", ())))
        for expr in stage["spec"]["selector"]["matchExpressions"]
    }


DEMO_APP_KEY = f'.metadata.annotations["{stages.DEMO_APP_ANNOTATION}"]'
SERVING_KEY = f'.metadata.annotations["{stages.SERVING_ANNOTATION}"]'


def test_upstream_pod_ready_leaves_demo_app_pods_out_and_other_stages_are_untouched() -> None:
    found = _by_name(stages.stages(UPSTREAM))
    assert _keys(found["pod-ready"]) == {".x": ("Exists", ()), DEMO_APP_KEY: ("NotIn", ("true",))}
    for path in build.KWOK_STAGES:
        if path != POD_READY:
            name = path.rsplit("/", 1)[1].removesuffix(".yaml")
            assert found[name] == yaml.safe_load(UPSTREAM[path])


def test_demo_app_pods_run_unready_then_turn_ready_only_when_served() -> None:
    found = _by_name(stages.stages(UPSTREAM))
    running = _keys(found["demo-app-pod-running"])
    ready = _keys(found["demo-app-pod-ready"])
    unready = _keys(found["demo-app-pod-unready"])
    for keys in (running, ready, unready):
        assert keys[DEMO_APP_KEY] == ("In", ("true",))
        assert keys[".metadata.deletionTimestamp"] == ("DoesNotExist", ())
    assert running[".status.phase"] == ("In", ("Pending",))
    assert SERVING_KEY not in running
    assert ready[SERVING_KEY] == ("In", ("true",))
    assert unready[SERVING_KEY] == ("NotIn", ("true",))


def test_only_the_ready_stage_writes_ready_true() -> None:
    found = _by_name(stages.stages(UPSTREAM))
    templates = {
        name: found[name]["spec"]["next"]["statusTemplate"]
        for name in ("demo-app-pod-running", "demo-app-pod-ready", "demo-app-pod-unready")
    }
    ready_true = 'status: "True"\n  type: Ready'
    assert [name for name, text in templates.items() if ready_true in text] == [
        "demo-app-pod-ready"
    ]
    assert "podIP:" in templates["demo-app-pod-running"]
    assert "phase: Running" in templates["demo-app-pod-running"]


def test_the_config_raises_kwoks_pod_parallelism_beside_the_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path, text in UPSTREAM.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.setattr(build, "module_dir", lambda module, version: tmp_path)
    documents = list(yaml.safe_load_all(stages.kwok_config()))
    options = [d for d in documents if d["kind"] == "KwokConfiguration"]
    assert options == [stages.configuration()]
    assert options[0]["apiVersion"] == "config.kwok.x-k8s.io/v1alpha1"
    assert options[0]["options"]["podPlayStageParallelism"] > 4  # upstream's default
    # Given a KwokConfiguration, kwok defaults none of its options: one left out is 0,
    # and kwok refuses to start with a parallelism of 0.
    parallelisms = {k: v for k, v in options[0]["options"].items() if "Parallelism" in k}
    assert set(parallelisms) == {
        "podPlayStageParallelism",
        "nodePlayStageParallelism",
        "nodeLeaseParallelism",
        "podsOnNodeSyncParallelism",
    }
    assert min(parallelisms.values()) >= 1
    assert _by_name([d for d in documents if d["kind"] == "Stage"]) == _by_name(
        stages.stages(UPSTREAM)
    )
