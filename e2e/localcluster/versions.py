"""Pinned versions of every upstream component the local control plane runs.

One place to bump. Each component is built from its official Go module at the
version below; the CRDs of third-party APIs are read from their upstream Go
modules at the versions below (never hand-written copies).
"""

from __future__ import annotations

from typing import Final

KUBERNETES: Final = "v1.36.3"
"""``k8s.io/kubernetes`` release: kube-apiserver, controller-manager, scheduler, kubectl."""

KUBERNETES_STAGING: Final = "v0.36.3"
"""Published twin of the staging modules (``k8s.io/api`` …) for :data:`KUBERNETES`."""

ETCD: Final = "v3.6.8"
"""``go.etcd.io/etcd/server/v3``: the etcd release ``k8s.io/kubernetes`` itself requires."""

KWOK: Final = "v0.8.0"
"""``sigs.k8s.io/kwok``: the node agent standing in for kubelets."""

GATEWAY_API: Final = "v1.6.3"
"""``sigs.k8s.io/gateway-api`` standard-channel CRDs."""

ISTIO_API: Final = "v1.32.0"
"""``istio.io/api``: networking CRDs (``VirtualService`` …)."""

SMI_SDK: Final = "v0.5.0"
"""``github.com/servicemeshinterface/smi-sdk-go``: ``TrafficSplit`` CRD."""

OPENFEATURE_APIS: Final = "v0.2.45"
"""``github.com/open-feature/open-feature-operator/apis``: ``FeatureFlag`` types."""

CONTROLLER_TOOLS: Final = "v0.19.0"
"""``sigs.k8s.io/controller-tools``: generates the OpenFeature CRD from its Go types."""
