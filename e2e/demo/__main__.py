"""``python -m e2e.demo``: bring up the local control plane and show it working.

Starts (or reuses) the cluster, deploys three replicas of a web Deployment in
the ``landinggear-demo`` namespace, waits until they are Ready, prints what
kubectl sees and how long each stage took, and leaves the cluster running for
you to explore (``make down`` stops it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from e2e.localcluster import build, cluster

NAMESPACE = "landinggear-demo"


def _kubectl(kubectl: Path, kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def main() -> int:
    t0 = time.monotonic()
    try:
        state = cluster.up()
    except (cluster.ClusterError, build.BuildError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    t_up = time.monotonic() - t0
    kubectl = build.ensure_binaries().kubectl

    def k(*args: str, stdin: str | None = None) -> str:
        return _kubectl(kubectl, state.kubeconfig, *args, stdin=stdin)

    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    k("apply", "-f", "-", stdin=json.dumps(namespace))
    k("delete", "deployment", "web", f"--namespace={NAMESPACE}", "--ignore-not-found", "--wait")
    t1 = time.monotonic()
    k("create", "deployment", "web", "--image=nginx", "--replicas=3", f"--namespace={NAMESPACE}")
    k("rollout", "status", "deployment/web", f"--namespace={NAMESPACE}", "--timeout=60s")
    t_ready = time.monotonic() - t1

    print("$ kubectl get nodes")
    print(k("get", "nodes"))
    print(f"$ kubectl get deployment,pods -n {NAMESPACE}")
    print(k("get", "deployment,pods", f"--namespace={NAMESPACE}", "-o", "wide"))
    print(f"control plane ready in {t_up:.1f}s; 3 pods Ready {t_ready:.1f}s after create")
    print()
    print("The cluster keeps running. Explore it with:")
    print(f"  export KUBECONFIG={state.kubeconfig}")
    print(f"  export PATH={Path(sys.prefix) / 'bin'}:$PATH   # the pinned kubectl")
    print("  kubectl get pods -A")
    print("Stop it with: make down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
