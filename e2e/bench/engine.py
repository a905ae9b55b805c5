"""``python -m e2e.bench.engine``: the engine's latencies and API writes, measured.

Against the local control plane (started if needed) with a real controller
process, repeated ``--runs`` times (default 5), it prints the median and worst of:
- ``kubectl set image`` returning → the first canary pod Ready;
- ``landinggear rollback`` returning → 100 % of pods on the previous revision;
- API writes per ``setWeight`` step (from the controller's own counter, the Lease's
  renewals left out);
- API writes of idle reconciles (reconciles triggered with nothing to change).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e.localcluster import build, cluster

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
NAMESPACE = "landinggear-bench"


class Bench:
    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl_path = build.ensure_binaries().kubectl
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", "-n", NAMESPACE, *args],
            input=stdin, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def landinggear(self, *args: str) -> None:
        subprocess.run(
            [str(BIN / "landinggear"), f"--kubeconfig={self.kubeconfig}", "-n", NAMESPACE, *args],
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def writes(self) -> float:
        """API writes but the Lease's renewals."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return sum(
                float(line.rsplit(" ", 1)[1])
                for line in response.read().decode().splitlines()
                if line.startswith("landinggear_api_writes_total{")
                and 'resource="leases"' not in line
            )

    def replica_sets(self) -> dict[str, tuple[int, int]]:
        items = json.loads(self.kubectl("get", "replicasets", "-o", "json"))["items"]
        ours = [rs for rs in items if "landinggear.dev/rollout" in rs["metadata"].get("labels", {})]
        return {
            rs["metadata"]["name"]: (
                rs["spec"]["replicas"],
                rs["status"].get("availableReplicas", 0),
            )
            for rs in ours
        }

    def status(self) -> dict[str, Any]:
        return json.loads(self.kubectl("get", "rollout", "web", "-o", "json")).get("status") or {}


def wait(what: str, probe: Callable[[], bool], timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if probe():
            return time.monotonic() - started
        time.sleep(0.01)
    raise SystemExit(f"timed out: {what}")


def one_run(bench: Bench, index: int) -> dict[str, float]:
    bench.kubectl("delete", "rollout,deployment,service", "--all", "--wait=true")
    bench.kubectl("create", "deployment", "web", "--image=web:v1", "--replicas=4")
    bench.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    steps = [{"setWeight": 25}, {"setWeight": 50}, {"setWeight": 75}, {"pause": {}}]
    rollout = {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {"workloadRef": {"name": "web"}, "strategy": {"canary": {"steps": steps}}},
    }
    bench.kubectl("apply", "-f", "-", stdin=json.dumps(rollout))
    wait("adopted", lambda: bench.status().get("phase") == "Healthy")
    stable = f"web-{bench.status()['stableRevision']}"

    writes = bench.writes()
    bench.kubectl("set", "image", "deployment/web", f"web=web:v2-{index}")
    first = wait(
        "first canary pod Ready",
        lambda: any(
            name != stable and available >= 1
            for name, (_, available) in bench.replica_sets().items()
        ),
    )
    wait("last step", lambda: bench.status().get("currentStepIndex") == 3)
    per_step = (bench.writes() - writes) / 3

    bench.landinggear("promote", "web")
    wait("promoted", lambda: bench.status().get("phase") == "Healthy")
    reconciles = bench.metric('landinggear_reconcile_total{result="done"}')
    writes = bench.writes()
    for n in range(10):
        bench.kubectl("annotate", "rollout/web", f"touch=n{n}", "--overwrite")
    wait(
        "ten idle reconciles",
        lambda: bench.metric('landinggear_reconcile_total{result="done"}') >= reconciles + 10,
    )
    idle = bench.writes() - writes

    started = time.monotonic()
    bench.landinggear("rollback", "web")
    wait(
        "100 % on the previous revision",
        lambda: (
            bench.replica_sets().get(stable) == (4, 4)
            and all(v == (0, 0) for k, v in bench.replica_sets().items() if k != stable)
        ),
    )
    rollback = time.monotonic() - started
    return {"first_canary_ready_s": first, "rollback_s": rollback, "writes_per_step": per_step,
            "idle_writes_per_10_reconciles": idle}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.bench.engine", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    state = cluster.up()
    bench = Bench(state.kubeconfig)
    crd = ROOT / "manifests" / "crds" / "rollouts.landinggear.dev.yaml"
    bench.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    subprocess.run(
        [str(bench.kubectl_path), f"--kubeconfig={state.kubeconfig}", "create", "namespace",
         NAMESPACE], capture_output=True, check=False,
    )  # fmt: skip
    log = open(Path(state.run_dir) / "logs" / "bench-controller.log", "wb")  # noqa: SIM115
    controller = subprocess.Popen(
        [str(BIN / "landinggear"), "run", f"--kubeconfig={state.kubeconfig}", "-n", NAMESPACE,
         f"--lease-namespace={NAMESPACE}", f"--metrics-address=127.0.0.1:{bench.port}",
         "--log-level=warning"], stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait("metrics", lambda: _served(bench))
        results = [one_run(bench, i) for i in range(args.runs)]
    finally:
        controller.terminate()
        controller.wait(timeout=30)
        log.close()
    print(f"{'figure':<34} {'median':>8} {'worst':>8}   ({args.runs} runs)")
    for key in results[0]:
        values = [r[key] for r in results]
        worst = max(values)
        print(f"{key:<34} {statistics.median(values):8.3f} {worst:8.3f}")
    return 0


def _served(bench: Bench) -> bool:
    try:
        bench.writes()
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
