"""A real local Kubernetes control plane for tests and the demo.

``python -m e2e.localcluster up|down|status|kubeconfig|build|install-crds``.
etcd, kube-apiserver, kube-controller-manager and kube-scheduler are built from
the official Go modules at one pinned release (see ``versions``), and kwok
stands in for kubelets so Pods are scheduled and become Ready without
containers. Everything listens on loopback only; kube-proxy runs inside the
cluster's own network namespace, where pod IPs and ClusterIPs are real
(:mod:`e2e.localcluster.network`).
"""

from e2e.localcluster.cluster import ClusterError, State, down, status, up

__all__ = ["ClusterError", "State", "down", "status", "up"]
