"""A Rollout's Deployment comes from the labelled Deployments' cache, else one GET."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from controller.reconcile import workloads
from controller.reconcile.workloads import DeploymentLookup


class Cache:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs = {o["metadata"]["name"]: o for o in objs}

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objs.get(name)

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        return []


def deployment(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "managedFields": [{"manager": "x"}]},
        "spec": {"replicas": 2},
        "status": {"availableReplicas": 2, "conditions": [{"type": "Available"}]},
    }


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the fake API server holds, by path; each GET is counted under ``"gets"``."""
    server: dict[str, Any] = {"gets": 0}

    def request_json(api: object, method: str, path: str, **_: object) -> Any:
        assert method == "GET"
        server["gets"] += 1
        if path not in server:
            raise ApiException(status=server.get("error", 404), reason="Not Found")
        return server[path]

    monkeypatch.setattr(workloads, "request_json", request_json)
    return server


def test_a_cached_deployment_is_not_read_again(served: dict[str, Any]) -> None:
    cached = deployment("web")
    lookup = DeploymentLookup(Cache(cached), api=None)  # type: ignore[arg-type]
    assert lookup.get("shop", "web") is cached
    assert served["gets"] == 0


def test_an_unlabelled_deployment_is_read_by_name_without_what_is_never_read(
    served: dict[str, Any],
) -> None:
    served["/apis/apps/v1/namespaces/shop/deployments/web"] = deployment("web")
    lookup = DeploymentLookup(Cache(), api=None)  # type: ignore[arg-type]
    found = lookup.get("shop", "web")
    assert found == {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2},
        "status": {"availableReplicas": 2},
    }
    assert served["gets"] == 1


def test_a_missing_deployment_is_none_and_other_errors_propagate(served: dict[str, Any]) -> None:
    lookup = DeploymentLookup(Cache(), api=None)  # type: ignore[arg-type]
    assert lookup.get("shop", "gone") is None
    served["error"] = 500
    with pytest.raises(ApiException):
        lookup.get("shop", "web")


def test_a_cached_replica_set_keeps_what_its_view_reads_and_drops_its_template() -> None:
    from controller.reconcile.observe import replica_set_view
    from controller.reconcile.workloads import slim_replica_set

    rs = {
        "metadata": {
            "name": "web-abc",
            "labels": {"landinggear.dev/pod-template-hash": "abc"},
            "generation": 2,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "ownerReferences": [{"uid": "r-1", "controller": True}],
        },
        "spec": {"replicas": 3, "selector": {}, "template": {"spec": {"containers": []}}},
        "status": {"availableReplicas": 3, "observedGeneration": 2, "conditions": [{}]},
    }
    view = replica_set_view(rs)
    slim = slim_replica_set(rs)
    assert "template" not in slim["spec"]
    assert "conditions" not in slim["status"]
    assert replica_set_view(slim) == view
