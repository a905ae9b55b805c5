"""The README's router examples are what the real API server accepts: each file in
``manifests/examples/web-rollout-<router>.yaml`` (the route objects and the Rollout)
passes a server-side dry run against the real CRDs — Gateway API's and Istio's
upstream schemas and CEL rules, and the Rollout CRD's — and parses as a Rollout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.api.v1alpha1 import Rollout
from e2e.localcluster import crds
from tests.support.kube import ClusterUnderTest

EXAMPLES = Path(__file__).parents[2] / "manifests" / "examples"


@pytest.fixture(scope="module")
def router_crds(kube: ClusterUnderTest) -> None:
    kube.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(EXAMPLES.parents[0] / "crds")
    )
    crds.install(
        kubectl=kube.kubectl_path, kubeconfig=kube.kubeconfig, names=("gateway-api", "istio")
    )


@pytest.mark.parametrize("router", ["gatewayapi", "istio", "nginx"])
def test_the_example_is_accepted_by_the_api_server(
    kube: ClusterUnderTest, namespace: str, router_crds: None, router: str
) -> None:
    path = EXAMPLES / f"web-rollout-{router}.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    rollout = next(d for d in docs if d["kind"] == "Rollout")
    parsed = Rollout.from_object({**rollout, "metadata": {**rollout["metadata"], "uid": "u"}})
    assert parsed.spec.strategy.canary.traffic_routing is not None
    done = kube.kubectl("apply", "--dry-run=server", f"--namespace={namespace}", "-f", str(path))
    assert done.stdout.count("(server dry run)") == len(docs), done.stdout
