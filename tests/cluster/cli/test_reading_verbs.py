"""``get``, ``list`` and ``history`` read the Rollout as stored, honouring kubectl's flags."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cluster.cli.conftest import Cli

STATUS = {
    "phase": "Paused",
    "message": "Waiting for promote at step 2",
    "observedGeneration": 1,
    "currentStepIndex": 1,
    "canaryWeight": 20,
    "stableRevision": "b5c7d9f2xz",
    "canaryRevision": "q8r4t6v2wz",
    "replicas": 4,
    "stableReadyReplicas": 3,
    "canaryReadyReplicas": 1,
    "history": [
        {
            "time": "2024-05-01T10:00:00Z",
            "action": "Adopted",
            "revision": "b5c7d9f2xz",
            "by": "controller",
            "reason": "Took over Deployment web at 4 replicas",
        },
        {
            "time": "2024-05-01T11:00:00Z",
            "action": "ReleaseStarted",
            "revision": "q8r4t6v2wz",
            "previousRevision": "b5c7d9f2xz",
            "by": "controller",
        },
    ],
}


def test_get_json_prints_the_whole_stored_object_including_status(cli: Cli) -> None:
    stored = cli.create_rollout(status=STATUS)

    shown = cli.run("get", "web", "-o", "json")

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == stored


def test_get_yaml_and_the_kubectl_plugin_print_the_same_object(cli: Cli) -> None:
    stored = cli.create_rollout(status=STATUS)

    shown = cli.run("landinggear", "get", "web", "-o", "yaml", program=str(cli.kube.kubectl_path))

    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout) == stored


def test_get_summarises_the_canary(cli: Cli) -> None:
    cli.create_rollout(status=STATUS)

    shown = cli.run("get", "web")

    assert shown.returncode == 0, shown.stderr
    assert "Phase:         Paused" in shown.stdout
    assert "Step:          2/4" in shown.stdout
    assert "Canary:        q8r4t6v2wz (1 ready)" in shown.stdout
    assert "> 2. pause until promoted" in shown.stdout


def test_list_shows_a_row_per_rollout_and_all_namespaces_adds_the_namespace(cli: Cli) -> None:
    cli.create_rollout("web", status=STATUS)
    cli.create_rollout("api")

    here = cli.run("list")
    everywhere = cli.run("list", "-A", namespaced=False)

    assert here.returncode == 0, here.stderr
    lines = here.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "WEIGHT", "STEP", "STABLE", "CANARY", "AGE"]
    assert [line.split()[:6] for line in lines[1:]] == [
        ["api", "-", "0%", "-", "-", "-"],
        ["web", "Paused", "20%", "2/4", "b5c7d9f2xz", "q8r4t6v2wz"],
    ]
    rows = [line.split() for line in everywhere.stdout.splitlines()]
    assert rows[0][0] == "NAMESPACE"
    assert [cli.namespace, "web", "Paused"] in [row[:3] for row in rows]


def test_list_in_an_empty_namespace_says_so(cli: Cli) -> None:
    shown = cli.run("list")

    assert (shown.returncode, shown.stdout) == (0, "")
    assert shown.stderr == f"No rollouts found in {cli.namespace} namespace.\n"


def test_history_lists_the_recorded_actions(cli: Cli) -> None:
    cli.create_rollout(status=STATUS)

    shown = cli.run("history", "web")

    assert shown.returncode == 0, shown.stderr
    assert [line.split()[:5] for line in shown.stdout.splitlines()] == [
        ["TIME", "ACTION", "REVISION", "PREVIOUS", "BY"],
        ["2024-05-01T10:00:00Z", "Adopted", "b5c7d9f2xz", "-", "controller"],
        ["2024-05-01T11:00:00Z", "ReleaseStarted", "q8r4t6v2wz", "b5c7d9f2xz", "controller"],
    ]


def test_the_context_flag_picks_the_context_and_its_namespace(cli: Cli, tmp_path: Path) -> None:
    cli.create_rollout(status=STATUS)
    config = yaml.safe_load(cli.kube.kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    config["contexts"].append(
        {"name": "cli-test", "context": {**current["context"], "namespace": cli.namespace}}
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))

    without = cli.run("get", "web", "-o", "json", kubeconfig=kubeconfig, namespaced=False)
    with_context = cli.run(
        "--context", "cli-test", "get", "web", "-o", "json", kubeconfig=kubeconfig, namespaced=False
    )

    assert without.returncode == 1
    assert without.stderr.startswith("error: rollout ")
    assert with_context.returncode == 0, with_context.stderr
    assert json.loads(with_context.stdout)["metadata"]["namespace"] == cli.namespace
