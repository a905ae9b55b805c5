"""``python -m e2e.bench.cli_startup``: how long the one-click CLI path takes, before/after.

Runs the ``landinggear`` entry point (the same two lines as the installed console
script) from two source trees, interleaved, ``--runs`` times each, and prints the
median and p90 wall-clock seconds of each command side by side:

- ``python -c pass`` (with ``site``, so the editable install's finder too): the floor;
- ``--help``; ``get web``; ``promote web``; ``rollback back`` — the last three against
  the cluster of ``--kubeconfig`` (default ``$KUBECONFIG``), in their own namespace,
  with Rollouts whose status lets each verb go through every time (no controller runs,
  so a request is stored and never acted on: the same one-click path each run). They
  read a YAML copy of the kubeconfig, as ``kubectl config`` writes one; ``rollback``
  once more with the kubeconfig as JSON (which the command line reads without PyYAML).

Bytecode: both trees run with their ``.pyc`` files cached in one private
``PYTHONPYCACHEPREFIX`` (``PYTHONDONTWRITEBYTECODE`` removed), warmed by one run of
each command that is not counted — as after ``pip install``, which compiles the
package. Without it every run would compile the package's source again.

Example: ``python -m e2e.bench.cli_startup --before /work/main --after . --runs 20``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

NAMESPACE = "landinggear-bench-cli"
ENTRY_POINT = "import sys; from controller.cli import main; sys.exit(main())"
"""What ``.venv/bin/landinggear`` runs."""

_CANARY = {
    "phase": "Progressing",
    "observedGeneration": 1,
    "currentStepIndex": 1,
    "canaryWeight": 20,
    "stableRevision": "b5c7d9f2xz",
    "canaryRevision": "q8r4t6v2wz",
    "previousStableRevision": "a1c3e5g7xz",
}
_STABLE = {**_CANARY, "phase": "Healthy", "canaryRevision": None, "currentStepIndex": None}


def _rollout(name: str) -> dict[str, object]:
    return {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "workloadRef": {"name": name},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
        },
    }


class Cluster:
    def __init__(self, kubeconfig: str, crd: Path) -> None:
        self.kubeconfig = kubeconfig
        self.crd = crd
        self.kubectl_path = shutil.which("kubectl") or "kubectl"

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def prepare(self) -> None:
        self.kubectl("apply", "--server-side", "-f", str(self.crd))
        self.kubectl("wait", "--for=condition=Established", "crd/rollouts.landinggear.dev")
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(namespace))
        for name, status in (("web", _CANARY), ("back", _STABLE)):
            self.kubectl("delete", "rollout", name, "-n", NAMESPACE, "--ignore-not-found")
            self.kubectl("create", "-f", "-", stdin=json.dumps(_rollout(name)))
            self.kubectl(
                *("patch", "rollout", name, "-n", NAMESPACE, "--subresource=status"),
                *("--type=merge", "-p", json.dumps({"status": status})),
            )


def _time(argv: list[str], env: dict[str, str]) -> float:
    """Seconds ``argv`` takes, run in a neutral directory: ``python -c`` puts the working
    directory first on ``sys.path``, which would shadow ``PYTHONPATH``'s tree."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, cwd=env["PYTHONPYCACHEPREFIX"], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")
    return elapsed


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.bench.cli_startup")
    parser.add_argument("--before", type=Path, required=True, help="source tree (e.g. main)")
    parser.add_argument("--after", type=Path, required=True, help="source tree (this branch)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    args = parser.parse_args(argv)
    if not args.kubeconfig:
        parser.error("--kubeconfig (or KUBECONFIG) names the cluster to measure against")
    Cluster(args.kubeconfig, args.after / "manifests/crds/rollouts.landinggear.dev.yaml").prepare()
    python = sys.executable
    cache = tempfile.mkdtemp(prefix="landinggear-bench-pycache-")
    as_yaml = Path(cache) / "kubeconfig.yaml"
    as_yaml.write_text(yaml.safe_dump(yaml.safe_load(Path(args.kubeconfig).read_text())))
    as_json = Path(cache) / "kubeconfig.json"
    as_json.write_text(json.dumps(yaml.safe_load(as_yaml.read_text()), indent=2))
    yaml_config = ["--kubeconfig", str(as_yaml)]
    commands: dict[str, list[str]] = {
        "floor: python -c pass": [python, "-c", "pass"],
        "--help": [python, "-c", ENTRY_POINT, "--help"],
        "get web": [python, "-c", ENTRY_POINT, "get", "web", "-n", NAMESPACE, *yaml_config],
        "promote web": [
            *(python, "-c", ENTRY_POINT, "promote", "web", "-n", NAMESPACE, *yaml_config)
        ],
        "rollback back": [
            *(python, "-c", ENTRY_POINT, "rollback", "back", "-n", NAMESPACE, *yaml_config)
        ],
        "rollback back (JSON)": [
            *(python, "-c", ENTRY_POINT, "rollback", "back", "-n", NAMESPACE),
            *("--kubeconfig", str(as_json)),
        ],
    }
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs = {
        label: {
            **base,
            "KUBECONFIG": args.kubeconfig,
            "PYTHONPATH": str(tree),
            "PYTHONPYCACHEPREFIX": cache,
        }
        for label, tree in trees.items()
    }
    for command in commands.values():  # warm-up: writes the bytecode, not counted
        for env in envs.values():
            _time(command, env)
    probe = [python, "-c", "import controller; print(controller.__file__)"]
    for label, env in envs.items():  # each tree is the one measured
        where = subprocess.run(
            probe, env=env, cwd=cache, capture_output=True, text=True, check=False
        )
        if not where.stdout.startswith(str(trees[label])):
            raise SystemExit(f"{label}: imported {where.stdout.strip()}, not {trees[label]}")
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.runs):
        for name, command in commands.items():
            for label, env in envs.items():
                times.setdefault((name, label), []).append(_time(command, env))
    print(f"before: {trees['before']}\nafter:  {trees['after']}")
    print(f"{args.runs} runs each, interleaved, bytecode cached; seconds, median / p90\n")
    print(f"{'command':<24}{'before':>18}{'after':>18}")
    for name in commands:
        cells = [
            f"{statistics.median(times[name, label]):.3f} / {_p90(times[name, label]):.3f}"
            for label in trees
        ]
        print(f"{name:<24}{cells[0]:>18}{cells[1]:>18}")
    shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
