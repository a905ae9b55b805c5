"""The kill switch with a real Unleash server (npm's ``unleash-server`` on Debian's
PostgreSQL, on loopback): a real controller process switches a feature off in one
environment when a release is aborted, a real ``UnleashClient`` sees it go off,
and ``retry`` turns it back on; a shared feature stays off until every Rollout
naming it has restored it; an outage of Unleash never delays the rollback and the
feature goes off when Unleash is back; a missing Secret or an address outside the
allow-list reads clearly in the status and changes nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from UnleashClient import UnleashClient  # type: ignore[attr-defined]

from controller.api import v1alpha1
from e2e.unleash import UnleashServer
from tests.support.accounts import service_account_kubeconfig
from tests.support.scenario import ROOT, Harness
from tests.support.unleash import (
    TOKEN_SECRET,
    create_feature,
    is_enabled,
    sdk_client,
    tags,
    token_secret,
    unleash_flag,
)
from tests.support.waiting import eventually

STEPS = [{"setWeight": 50}, {"pause": {}}]


@pytest.fixture
def observer(unleash: UnleashServer, tmp_path: Path) -> Iterator[UnleashClient]:
    sdk = sdk_client(unleash, tmp_path / "unleash-sdk")
    yield sdk
    sdk.destroy()


def _rollout(harness: Harness, server: UnleashServer, feature: str, *, name: str = "web") -> None:
    harness.apply(
        {
            "apiVersion": v1alpha1.API_VERSION,
            "kind": v1alpha1.KIND,
            "metadata": {"name": name},
            "spec": {
                "workloadRef": {"name": name},
                "featureFlags": [unleash_flag(server, feature)],
                "strategy": {"canary": {"steps": STEPS}},
            },
        }
    )


def _release_and_pause(harness: Harness, name: str = "web") -> str:
    """Adopt ``name`` and start a release paused at 50 %; the stable revision."""
    v1: str = harness.wait_status("adopted", name=name, phase="Healthy")["stableRevision"]
    harness.set_image(f"{name}:v2", name=name)
    harness.wait_status("paused at 50 %", name=name, currentStepIndex=1, timeout=60)
    return v1


def _one_rollout_paused(harness: Harness, server: UnleashServer, feature: str) -> str:
    """Feature on, token Secret, app, controller allowed to reach Unleash, a Rollout
    naming the feature with a release paused at 50 %; the stable revision."""
    create_feature(server, feature)
    token_secret(harness, server.admin_token)
    harness.create_app(replicas=2)
    harness.start_controller(extra=("--flag-endpoint", server.url))
    _rollout(harness, server, feature)
    return _release_and_pause(harness)


def _flag_status(harness: Harness, name: str = "web") -> dict[str, Any]:
    entries = harness.status(name).get("featureFlags") or [{}]
    return dict(entries[0])


def _state(harness: Harness, name: str) -> str | None:
    state = _flag_status(harness, name).get("state")
    return str(state) if state else None


def _pending_with(harness: Harness, text: str) -> dict[str, Any] | None:
    condition = _pending(harness)
    return condition if condition and text in condition["message"] else None


def _pending(harness: Harness, name: str = "web") -> dict[str, Any] | None:
    for condition in harness.status(name).get("conditions") or []:
        if condition["type"] == "FlagsPending" and condition["status"] == "True":
            return dict(condition)
    return None


def test_an_abort_switches_the_feature_off_for_the_sdk_and_retry_turns_it_on(
    harness: Harness, unleash: UnleashServer, observer: UnleashClient
) -> None:
    v1 = _one_rollout_paused(harness, unleash, "checkout-abort")
    eventually(lambda: observer.is_enabled("checkout-abort"), timeout=10, what="SDK sees on")

    aborted = time.monotonic()
    harness.cli("abort", "web", "--reason", "checkout errors")
    eventually(
        lambda: not observer.is_enabled("checkout-abort"), timeout=30, what="the SDK sees it off"
    )
    seen_off = time.monotonic() - aborted
    harness.wait_status("rolled back", phase="Degraded", stableRevision=v1, timeout=30)
    eventually(lambda: _flag_status(harness).get("state") == "Off", timeout=30, what="Off")
    assert _flag_status(harness)["previous"] == '{"enabled": true}'
    assert not is_enabled(unleash, "checkout-abort")
    assert _pending(harness) is None

    harness.cli("retry", "web")
    eventually(lambda: observer.is_enabled("checkout-abort"), timeout=60, what="SDK sees on")
    assert is_enabled(unleash, "checkout-abort")
    assert tags(unleash, "checkout-abort") == []  # no record left behind
    print(f"\nabort → Unleash SDK observes the feature off: {seen_off:.2f}s")


def test_a_shared_feature_stays_off_until_every_rollout_restored_it(
    harness: Harness, unleash: UnleashServer
) -> None:
    create_feature(unleash, "checkout-shared")
    token_secret(harness, unleash.admin_token)
    for app in ("web", "api"):
        harness.create_app(name=app, replicas=2)
    harness.start_controller(extra=("--flag-endpoint", unleash.url))
    for app in ("web", "api"):
        _rollout(harness, unleash, "checkout-shared", name=app)
        _release_and_pause(harness, app)
    for app in ("web", "api"):
        harness.cli("abort", app)
    eventually(
        lambda: _state(harness, "web") == _state(harness, "api") == "Off", timeout=30, what="Off"
    )
    assert not is_enabled(unleash, "checkout-shared")
    assert len(tags(unleash, "checkout-shared")) == 3  # two holders and the "was on" mark

    harness.cli("retry", "web")
    eventually(lambda: _state(harness, "web") == "Restored", timeout=30, what="web Restored")
    assert not is_enabled(unleash, "checkout-shared"), "api still holds it off"
    harness.cli("retry", "api")
    eventually(lambda: is_enabled(unleash, "checkout-shared"), timeout=30, what="on again")
    assert tags(unleash, "checkout-shared") == []


def test_unleash_down_never_delays_the_rollback_and_the_feature_goes_off_when_back(
    harness: Harness, unleash: UnleashServer
) -> None:
    v1 = _one_rollout_paused(harness, unleash, "checkout-outage")
    unleash.stop_unleash()
    try:
        aborted = time.monotonic()
        harness.cli("abort", "web")
        harness.wait_status("rolled back", phase="Degraded", stableRevision=v1, timeout=30)
        rolled_back = time.monotonic() - aborted
        eventually(lambda: _replicas_back(harness, v1), timeout=30, what="stable at full size")
        condition = eventually(lambda: _pending(harness), timeout=30, what="FlagsPending")
        assert "cannot reach" in condition["message"], condition
        time.sleep(max(0.0, 30 - (time.monotonic() - aborted)))  # 30 s without Unleash
    finally:
        unleash.start_unleash()
    back = time.monotonic()
    eventually(lambda: not is_enabled(unleash, "checkout-outage"), timeout=60, what="off")
    off_after = time.monotonic() - back
    eventually(lambda: _pending(harness) is None, timeout=30, what="FlagsPending cleared")
    assert _flag_status(harness)["attempts"] == 0
    print(
        f"\nUnleash down 30 s: rolled back in {rolled_back:.2f}s; "
        f"feature off {off_after:.2f}s after Unleash was back"
    )


def _replicas_back(harness: Harness, stable: str) -> bool:
    return harness.replica_sets().get(stable) == (2, 2)


def test_a_missing_secret_or_an_address_not_allowed_reads_clearly_and_changes_nothing_else(
    harness: Harness, unleash: UnleashServer
) -> None:
    create_feature(unleash, "checkout-refused")
    for app in ("web", "api"):
        harness.create_app(name=app, replicas=2)
    harness.start_controller()  # no --flag-endpoint: Unleash is not on the allow-list
    _rollout(harness, unleash, "checkout-refused", name="web")
    _rollout(harness, unleash, "checkout-refused", name="api")
    v1 = _release_and_pause(harness, "web")
    harness.cli("abort", "web")
    harness.wait_status("rolled back", name="web", phase="Degraded", stableRevision=v1)
    condition = eventually(lambda: _pending(harness, "web"), timeout=30, what="FlagsPending")
    assert "is not an allowed flag endpoint" in condition["message"], condition
    assert "--flag-endpoint" in condition["message"]
    assert is_enabled(unleash, "checkout-refused")
    assert harness.status("api").get("phase") == "Healthy"  # the other Rollout is untouched

    harness.stop_all()
    harness.grant_secret(TOKEN_SECRET)  # the namespace's owner allowed it, made it not yet
    harness.start_controller(identity="b", extra=("--flag-endpoint", unleash.url))
    # Allowed now, but the Secret does not exist.
    condition = eventually(
        lambda: _pending_with(harness, "not found"), timeout=60, what="Secret not found"
    )
    assert f"Secret {harness.namespace}/{TOKEN_SECRET} not found" in condition["message"]
    token_secret(harness, "wrong-token")
    eventually(
        lambda: _pending_with(harness, "refused the token"), timeout=90, what="token refused"
    )
    assert "wrong-token" not in str(harness.rollout("web"))  # never the token itself
    token_secret(harness, unleash.admin_token)
    eventually(lambda: not is_enabled(unleash, "checkout-refused"), timeout=120, what="off")
    with httpx.Client() as plain:  # the token is needed: nothing open to anyone
        assert plain.get(f"{unleash.url}/api/admin/features").status_code == 401


def test_flags_off_by_hand_keeps_the_release_and_restore_puts_the_feature_back(
    harness: Harness, unleash: UnleashServer, observer: UnleashClient
) -> None:
    _one_rollout_paused(harness, unleash, "checkout-by-hand")
    before = harness.status()
    asked = time.monotonic()
    done = harness.cli("flags", "off", "web", "--reason", "support tickets about checkout")
    assert "Requested flags off" in done.stdout
    eventually(
        lambda: not observer.is_enabled("checkout-by-hand"), timeout=30, what="the SDK sees off"
    )
    seen_off = time.monotonic() - asked
    status = harness.status()
    assert status["canaryRevision"] == before["canaryRevision"]  # the release goes on
    assert status["currentStepIndex"] == before["currentStepIndex"]
    assert status["phase"] == before["phase"]
    listing = harness.cli("flags", "web").stdout
    assert "by hand" in listing, listing

    harness.cli("flags", "restore", "web")
    eventually(lambda: observer.is_enabled("checkout-by-hand"), timeout=30, what="on again")
    assert tags(unleash, "checkout-by-hand") == []
    print(f"\nlandinggear flags off → the Unleash SDK sees the feature off: {seen_off:.2f}s")


def test_an_unknown_feature_reads_clearly_and_the_rollback_goes_on(
    harness: Harness, unleash: UnleashServer
) -> None:
    token_secret(harness, unleash.admin_token)
    harness.create_app(replicas=2)
    harness.start_controller(extra=("--flag-endpoint", unleash.url))
    _rollout(harness, unleash, "no-such-feature")
    v1 = _release_and_pause(harness)
    harness.cli("abort", "web")
    harness.wait_status("rolled back", phase="Degraded", stableRevision=v1, timeout=30)
    condition = eventually(lambda: _pending_with(harness, "not found"), timeout=30, what="404")
    assert "no-such-feature" in condition["message"]
    assert _replicas_back(harness, v1)


def _shipped_cluster_role(name: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((ROOT / "manifests" / "controller" / "rbac.yaml").read_text())
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    return {**role, "metadata": {"name": name}}


def test_the_controller_reads_a_token_only_through_the_grant_its_namespace_owner_made(
    harness: Harness, unleash: UnleashServer, tmp_path: Path
) -> None:
    """The controller runs as a ServiceAccount with the shipped ClusterRole (no
    Secret access anywhere) and may read the Unleash token only once the namespace
    holds the README's Role and RoleBinding naming that one Secret."""
    kube, ns = harness.kube, harness.namespace
    account = "landinggear-controller"
    kubeconfig = service_account_kubeconfig(kube, ns, account, tmp_path / "sa")
    role_name = f"landinggear-controller-{ns}"
    subject = [{"kind": "ServiceAccount", "name": account, "namespace": ns}]
    granted = [
        _shipped_cluster_role(role_name),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role_name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
            "subjects": subject,
        },
    ]
    leases = _role_and_binding(
        "leader-election", ns, account, [{"apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"], "verbs": ["get", "create", "update"]}],
    )  # fmt: skip
    try:
        for obj in [*granted, *leases]:
            harness.apply(obj)
        create_feature(unleash, "checkout-granted")
        token_secret(harness, unleash.admin_token)
        harness.create_app(replicas=2)
        harness.start_controller(kubeconfig=kubeconfig, extra=("--flag-endpoint", unleash.url))
        _rollout(harness, unleash, "checkout-granted")
        v1 = _release_and_pause(harness)
        harness.cli("abort", "web")
        harness.wait_status("rolled back", phase="Degraded", stableRevision=v1, timeout=30)
        condition = eventually(
            lambda: _pending_with(harness, "may not read Secret"), timeout=30, what="forbidden"
        )
        assert "create a Role" in condition["message"]
        assert is_enabled(unleash, "checkout-granted")

        grant = _role_and_binding(
            "landinggear-flag-secrets", ns, account,
            [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [TOKEN_SECRET],
              "verbs": ["get"]}],
        )  # fmt: skip
        for obj in grant:
            harness.apply(obj)
        eventually(lambda: not is_enabled(unleash, "checkout-granted"), timeout=60, what="off")
        eventually(lambda: _pending(harness) is None, timeout=30, what="FlagsPending cleared")
    finally:
        for obj in granted:
            kube.kubectl("delete", obj["kind"].lower(), obj["metadata"]["name"], check=False)


RBAC = "rbac.authorization.k8s.io"


def _role_and_binding(
    name: str, namespace: str, account: str, rules: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": name}, "rules": rules},
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]
