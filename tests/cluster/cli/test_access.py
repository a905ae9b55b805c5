"""Plain RBAC governs the verbs: a user without it gets the API server's clear refusal."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.cluster.cli.conftest import Cli
from tests.support.accounts import service_account_kubeconfig
from tests.support.tcpproxy import TcpProxy
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


def test_as_impersonates_a_service_account_and_gets_its_forbidden(cli: Cli) -> None:
    cli.create_rollout(status={"canaryRevision": "q8r4t6v2wz", "stableRevision": "b5c7d9f2xz"})
    cli.kube.kubectl("create", "serviceaccount", "ci", "-n", cli.namespace)
    user = f"system:serviceaccount:{cli.namespace}:ci"

    done = cli.run("promote", "web", "--as", user)

    assert done.returncode == 1
    assert done.stderr == (
        f'error: Error from server (Forbidden): rollouts.landinggear.dev "web" is forbidden: '
        f'User "{user}" cannot get resource "rollouts" in API group "landinggear.dev" '
        f'in the namespace "{cli.namespace}"\n'
    )
    annotations = cli.rollout()["metadata"].get("annotations") or {}
    assert "request.landinggear.dev/promote" not in annotations


def test_as_and_as_group_act_with_the_groups_rights_and_are_recorded_as_that_user(
    cli: Cli,
) -> None:
    cli.create_rollout(status={"canaryRevision": "q8r4t6v2wz", "stableRevision": "b5c7d9f2xz"})

    done = cli.run("promote", "web", "--as", "carol", "--as-group", "system:masters")

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Requested promote of rollout {cli.namespace}/web (as carol)\n"
    request = json.loads(
        cli.rollout()["metadata"]["annotations"]["request.landinggear.dev/promote"]
    )
    assert request["by"] == "carol"


def test_as_uid_reaches_the_api_server_as_the_impersonated_uid(cli: Cli) -> None:
    if cli.kube.audit_log is None:
        pytest.skip("needs the local control plane's audit log")
    cli.create_rollout(status={"canaryRevision": "q8r4t6v2wz", "stableRevision": "b5c7d9f2xz"})

    done = cli.run("promote", "web", "--as", "carol", "--as-group", "system:masters",
                   "--as-uid", "uid-carol-7")  # fmt: skip

    assert done.returncode == 0, done.stderr
    seen = []
    for line in cli.kube.audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if (ref.get("namespace"), ref.get("resource"), event["verb"]) == (
            cli.namespace, "rollouts", "patch"
        ):  # fmt: skip
            seen.append(event.get("impersonatedUser"))
    impersonated = [(u.get("username"), u.get("uid")) for u in seen if u]
    assert impersonated == [("carol", "uid-carol-7")]  # the fixture's own patch is the admin's


def _through(kubeconfig: Path, proxy: TcpProxy, path: Path) -> Path:
    """``kubeconfig`` with its server's port replaced by the proxy's (both on 127.0.0.1)."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        server = urlsplit(cluster["cluster"]["server"])
        assert server.hostname == "127.0.0.1"
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path.write_text(json.dumps(config))
    return path


def test_request_timeout_ends_a_request_the_network_black_holes(cli: Cli, tmp_path: Path) -> None:
    cli.create_rollout(status={"canaryRevision": "q8r4t6v2wz", "stableRevision": "b5c7d9f2xz"})
    server = urlsplit(
        yaml.safe_load(cli.kube.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    )
    proxy = TcpProxy(("127.0.0.1", int(server.port or 443)))
    try:
        kubeconfig = _through(cli.kube.kubeconfig, proxy, tmp_path / "proxied")
        assert (
            cli.run("get", "web", "--request-timeout", "5s", kubeconfig=kubeconfig).returncode == 0
        )
        proxy.blackhole()
        started = time.monotonic()

        done = cli.run("get", "web", "--request-timeout", "2s", kubeconfig=kubeconfig)

        elapsed = time.monotonic() - started
    finally:
        proxy.close()
    assert done.returncode == 1
    assert done.stderr == (
        f"error: the API server at https://127.0.0.1:{proxy.port} gave no answer within 2s "
        "(--request-timeout)\n"
    )
    assert 2 <= elapsed < 10
