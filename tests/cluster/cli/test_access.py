"""Plain RBAC governs the verbs: a user without it gets the API server's clear refusal."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cluster.cli.conftest import Cli
from tests.support.accounts import service_account_kubeconfig
from tests.support.waiting import eventually


def test_a_service_account_without_rbac_gets_a_clear_forbidden_message(
    cli: Cli, tmp_path: Path
) -> None:
    cli.create_rollout(status={"canaryRevision": "q8r4t6v2wz", "stableRevision": "b5c7d9f2xz"})
    kubeconfig = service_account_kubeconfig(cli.kube, cli.namespace, "ci", tmp_path / "ci")

    done = cli.run("promote", "web", kubeconfig=kubeconfig)

    assert done.returncode == 1
    assert done.stderr == (
        f'error: Error from server (Forbidden): rollouts.landinggear.dev "web" is forbidden: '
        f'User "system:serviceaccount:{cli.namespace}:ci" cannot get resource "rollouts" '
        f'in API group "landinggear.dev" in the namespace "{cli.namespace}"\n'
    )
    annotations = cli.rollout()["metadata"].get("annotations") or {}
    assert "request.landinggear.dev/promote" not in annotations


def test_a_user_who_may_patch_but_not_record_events_succeeds_without_an_event(
    cli: Cli, tmp_path: Path
) -> None:
    cli.create_rollout(status={"canaryRevision": "q8r4t6v2wz", "stableRevision": "b5c7d9f2xz"})
    kubeconfig = service_account_kubeconfig(cli.kube, cli.namespace, "ci", tmp_path / "ci")
    user = f"system:serviceaccount:{cli.namespace}:ci"
    cli.kube.kubectl(
        *("create", "role", "rollout-operator", "-n", cli.namespace),
        *("--verb=get,patch", "--resource=rollouts.landinggear.dev"),
    )
    cli.kube.kubectl(
        *("create", "rolebinding", "rollout-operator", "-n", cli.namespace),
        *("--role=rollout-operator", f"--serviceaccount={cli.namespace}:ci"),
    )
    eventually(
        lambda: (
            cli.kube.kubectl(
                *("auth", "can-i", "patch", "rollouts.landinggear.dev", "-n", cli.namespace),
                f"--as={user}",
                check=False,
            ).stdout.strip()
            == "yes"
        ),
        timeout=30,
        what="the RoleBinding to take effect",
    )

    done = cli.run("promote", "web", kubeconfig=kubeconfig)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Requested promote of rollout {cli.namespace}/web (as {user})\n"
    assert done.stderr == ""  # the operator role grants no Events: nothing to warn about
    annotations = cli.rollout()["metadata"]["annotations"]
    assert json.loads(annotations["request.landinggear.dev/promote"])["by"] == user
    assert cli.events() == []
