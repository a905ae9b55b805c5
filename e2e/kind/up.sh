#!/usr/bin/env bash
# For users with a Docker engine: run the same test suite against a kind cluster.
#
#   e2e/kind/up.sh            # create the cluster, install third-party CRDs
#   KUBECONFIG=$(e2e/kind/up.sh | tail -1) make test
#
# The suite reuses any reachable cluster KUBECONFIG points at (tests/conftest.py).
# KIND_NODE_IMAGE picks the node image; keep it at the Kubernetes minor pinned in
# e2e/localcluster/versions.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=${KIND_CLUSTER_NAME:-landinggear}
IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.36.3}
KUBECONFIG_OUT=${KIND_KUBECONFIG:-$HOME/.kube/kind-$NAME.yaml}

command -v kind >/dev/null || { echo "kind is required: https://kind.sigs.k8s.io" >&2; exit 1; }
if ! kind get clusters | grep -qx "$NAME"; then
    kind create cluster --name "$NAME" --image "$IMAGE" --config e2e/kind/cluster.yaml --wait 120s >&2
fi
mkdir -p "$(dirname "$KUBECONFIG_OUT")"
kind get kubeconfig --name "$NAME" >"$KUBECONFIG_OUT"
.venv/bin/python -m e2e.localcluster install-crds --kubeconfig "$KUBECONFIG_OUT" >&2
echo "$KUBECONFIG_OUT"
