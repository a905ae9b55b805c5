"""``python -m e2e.demo``: a canary release and a one-command rollback, end to end.

Starts (or reuses) the local control plane, installs the Rollout CRD, runs the
controller (``landinggear run``) as a process, deploys ``web`` at v1 with a
Rollout, releases v2 step by step, promotes it, rolls it back with one command,
and prints what it saw with timings. The cluster keeps running afterwards for you
to explore (``make down`` stops it); the controller is stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e.localcluster import build, cluster

NAMESPACE = "landinggear-demo"
ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
STEPS = [{"setWeight": 20}, {"pause": {"duration": "5s"}}, {"setWeight": 50}, {"pause": {}}]


class Demo:
    def __init__(self, kubeconfig: str, kubectl: Path, log_path: Path) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl_path = kubectl
        self.log_path = log_path

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if proc.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def landinggear(self, *args: str) -> str:
        proc = subprocess.run(
            [str(BIN / "landinggear"), f"--kubeconfig={self.kubeconfig}", "-n", NAMESPACE, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if proc.returncode != 0:
            raise SystemExit(f"landinggear {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def status(self) -> dict[str, Any]:
        out = self.kubectl("get", "rollout", "web", "-n", NAMESPACE, "-o", "json")
        return json.loads(out).get("status") or {}

    def wait(self, what: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if done(self.status()):
                return time.monotonic() - started
            time.sleep(0.05)
        raise SystemExit(f"timed out waiting for {what}; see {self.log_path}")


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    try:
        state = cluster.up()
    except (cluster.ClusterError, build.BuildError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    log_path = Path(state.run_dir) / "logs" / "demo-controller.log"
    demo = Demo(state.kubeconfig, build.ensure_binaries().kubectl, log_path)
    crd = ROOT / "manifests" / "crds" / "rollouts.landinggear.dev.yaml"
    demo.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    demo.kubectl("wait", "--for=condition=Established", "crd/rollouts.landinggear.dev")
    demo.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
    demo.kubectl("create", "namespace", NAMESPACE)

    with open(log_path, "wb") as log:
        controller = subprocess.Popen(
            [
                str(BIN / "landinggear"),
                "run",
                f"--kubeconfig={state.kubeconfig}",
                f"--namespace={NAMESPACE}",
                f"--lease-namespace={NAMESPACE}",
                "--metrics-address=127.0.0.1:0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        return run_story(demo)
    finally:
        controller.terminate()
        controller.wait(timeout=30)
        print(f"\n(controller stopped; its log: {log_path})")


def run_story(demo: Demo) -> int:
    n = ["-n", NAMESPACE]
    say("Deploy web v1 (3 replicas) and a Service, as anyone would")
    demo.kubectl("create", "deployment", "web", "--image=web:v1", "--replicas=3", *n)
    demo.kubectl("expose", "deployment", "web", "--port=80", *n)
    demo.kubectl("rollout", "status", "deployment/web", "--timeout=60s", *n)
    rollout = {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {"workloadRef": {"name": "web"}, "strategy": {"canary": {"steps": STEPS}}},
    }
    say("Create a Rollout for it: the controller adopts the Deployment")
    demo.kubectl("apply", *n, "-f", "-", stdin=json.dumps(rollout))
    adopt = demo.wait("adoption", lambda s: s.get("phase") == "Healthy")
    v1 = demo.status()["stableRevision"]
    print(demo.kubectl("get", "rollout,replicasets,deployment", *n))

    say("kubectl set image deployment/web web=web:v2")
    demo.kubectl("set", "image", "deployment/web", "web=web:v2", *n)
    first = demo.wait("canary at 20 %", lambda s: s.get("canaryWeight") == 20)
    print(demo.landinggear("get", "web"))
    demo.wait("canary at 50 %", lambda s: s.get("currentStepIndex") == 3, timeout=30)
    print(demo.kubectl("get", "rollout,replicasets", *n))

    say("landinggear promote web")
    print(demo.landinggear("promote", "web").strip())
    promote = demo.wait("promotion", lambda s: s.get("stableRevision") != v1)
    v2 = demo.status()["stableRevision"]
    print(demo.kubectl("get", "rollout,replicasets", *n))

    say("v2 turns out bad: landinggear rollback web")
    started = time.monotonic()
    print(demo.landinggear("rollback", "web", "--reason", "checkout errors").strip())
    rs_v1, rs_v2 = f"web-{v1}", f"web-{v2}"

    def restored(_: dict[str, Any]) -> bool:
        out = demo.kubectl(
            "get",
            "replicasets",
            *n,
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}="
            "{.status.availableReplicas}/{.spec.replicas} {end}",
        )
        sets = dict(item.split("=") for item in out.split())
        return sets.get(rs_v1) == "3/3" and sets.get(rs_v2) in ("/0", "0/0")

    demo.wait("100 % on v1", restored)
    rollback = time.monotonic() - started
    print(demo.landinggear("history", "web"))
    print(demo.kubectl("get", "rollout,replicasets", *n))

    say("Summary")
    print(f"  adoption of a running Deployment:          {adopt:5.2f}s")
    print(f"  kubectl set image -> canary Ready at 20 %:  {first:5.2f}s")
    print(f"  promote -> v2 stable at full size:          {promote:5.2f}s")
    print(f"  rollback command -> 100 % back on v1:       {rollback:5.2f}s")
    print("\nThe cluster keeps running. Explore it with:")
    print(f"  export KUBECONFIG={demo.kubeconfig}")
    print(f"  export PATH={BIN}:$PATH")
    print(f"  kubectl landinggear -n {NAMESPACE} get web")
    print("Stop it with: make down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
