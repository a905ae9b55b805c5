"""Which namespace the controller calls its own (the Lease's, unless told otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.kube.kubeconfig import home_namespace

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts:
- {name: plain, context: {cluster: c, user: u}}
- {name: team, context: {cluster: c, user: u, namespace: team-a}}
- {name: ops, context: {cluster: c, user: u, namespace: ops}}
current-context: team
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


@pytest.fixture
def no_pod(tmp_path: Path) -> Path:
    return tmp_path / "not-in-a-pod"


def test_in_a_pod_the_service_accounts_namespace_wins(kubeconfig: str, tmp_path: Path) -> None:
    own = tmp_path / "namespace"
    own.write_text("landinggear-system\n")
    found = home_namespace(kubeconfig=kubeconfig, context="ops", namespace_file=own)
    assert found == "landinggear-system"


def test_outside_a_pod_the_current_contexts_namespace(kubeconfig: str, no_pod: Path) -> None:
    assert home_namespace(kubeconfig=kubeconfig, context=None, namespace_file=no_pod) == "team-a"


def test_a_chosen_context_gives_its_namespace(kubeconfig: str, no_pod: Path) -> None:
    assert home_namespace(kubeconfig=kubeconfig, context="ops", namespace_file=no_pod) == "ops"


def test_a_context_without_a_namespace_means_default(kubeconfig: str, no_pod: Path) -> None:
    found = home_namespace(kubeconfig=kubeconfig, context="plain", namespace_file=no_pod)
    assert found == "default"


def test_no_kubeconfig_and_no_pod_means_default(tmp_path: Path, no_pod: Path) -> None:
    missing = str(tmp_path / "missing")
    assert home_namespace(kubeconfig=missing, context=None, namespace_file=no_pod) == "default"


def test_an_empty_namespace_file_is_no_namespace(kubeconfig: str, tmp_path: Path) -> None:
    own = tmp_path / "namespace"
    own.write_text("")
    assert home_namespace(kubeconfig=kubeconfig, context=None, namespace_file=own) == "team-a"
