"""The ReplicaSets the controller writes: labels and selectors."""

from __future__ import annotations

import pytest

from controller.core.revisions import REVISION_LABEL, Revision
from controller.reconcile.manifests import ISTIO_REVISION_LABEL, replica_set

pytestmark = pytest.mark.unit


def make(labels: dict[str, str]) -> dict[str, object]:
    return replica_set(
        rollout="web",
        rollout_uid="u-1",
        namespace="shop",
        revision=Revision("abc"),
        template={"metadata": {"labels": labels}, "spec": {"containers": []}},
        selector={"matchLabels": {"app": "web"}},
        replicas=2,
    )


def test_pods_carry_the_revision_for_our_selector_and_for_istio() -> None:
    rs = make({"app": "web"})
    spec = rs["spec"]
    assert isinstance(spec, dict)
    labels = spec["template"]["metadata"]["labels"]
    assert labels[REVISION_LABEL] == "abc"
    assert labels[ISTIO_REVISION_LABEL] == "abc"
    assert spec["selector"]["matchLabels"] == {"app": "web", REVISION_LABEL: "abc"}


def test_a_canonical_revision_set_by_the_user_is_kept() -> None:
    rs = make({"app": "web", ISTIO_REVISION_LABEL: "v2"})
    spec = rs["spec"]
    assert isinstance(spec, dict)
    assert spec["template"]["metadata"]["labels"][ISTIO_REVISION_LABEL] == "v2"
