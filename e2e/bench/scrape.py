"""``python -m e2e.bench.scrape [--rollouts N …] [--before CHECKOUT] [--quick] [--json PATH]``.

What one ``/metrics`` scrape costs the controller with N Rollouts watched: its
``controller/metrics.py`` (and an older checkout's, with ``--before``, side by side
in one process) serving N Rollouts' per-Rollout series through its own WSGI app,
asked for the whole page and for one family (``?name[]=landinggear_workqueue_depth``,
what a poll of the queue depth asks). Printed per tree and N: CPU milliseconds per
scrape (median of the rounds) and the page's size. The scrape holds the GIL while
it gathers and renders, so its CPU is time the reconciles wait too.

Rollout names are as long as the scale bench's (``scale-00042`` in a namespace of
24 characters); the phase series are one per phase and Rollout, as exported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from controller.api.v1alpha1 import Phase
from controller.kube.objects import ObjectKey
from controller.reconcile.reconciler import Observation
from e2e.bench.trees import load_from

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "landinggear-scale-8a9d5e"
ONE_FAMILY = "name[]=landinggear_workqueue_depth"


def load(tree: Path, name: str) -> ModuleType:
    """``controller/metrics.py`` of ``tree``."""
    return load_from(tree / "controller" / "metrics.py", name, missing="no controller metrics")


def observed(n: int) -> dict[ObjectKey, Observation]:
    phases = list(Phase)
    return {
        ObjectKey(NAMESPACE, f"scale-{i:05d}"): Observation(phases[i % len(phases)], 50, 1)
        for i in range(n)
    }


def scrape(app: Callable[..., Any], query: str) -> tuple[float, int]:
    """CPU seconds and bytes of one GET of ``/metrics?query`` through the WSGI app."""
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": query}
    started = time.process_time()
    body = b"".join(app(environ, lambda *_: None))
    return time.process_time() - started, len(body)


def measure(module: ModuleType, n: int, rounds: int) -> dict[str, float]:
    state = observed(n)
    metrics = module.Metrics(observed=lambda: state, queue_depth=lambda: 0, leading=lambda: True)
    app = module.app(registry=metrics.registry, ready=lambda: True, healthy=list)
    whole = [scrape(app, "") for _ in range(rounds)]
    one = [scrape(app, ONE_FAMILY) for _ in range(rounds)]
    return {
        "whole_ms": 1000 * statistics.median(cpu for cpu, _ in whole),
        "whole_kib": whole[0][1] / 1024,
        "one_family_ms": 1000 * statistics.median(cpu for cpu, _ in one),
        "one_family_bytes": one[0][1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.bench.scrape", description=__doc__)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--before", type=Path, help="an older checkout's tree: the baseline")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="N = 100 and 1,000, 3 rounds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.rollouts, args.rounds = [100, 1000], 3
    trees = {"after": load(ROOT, "metrics_after")}
    if args.before is not None:
        trees = {"before": load(args.before, "metrics_before"), **trees}
    runs = []
    print(f"{'tree':8} {'N':>7} {'whole page':>12} {'size':>10} {'one family':>12} {'size':>7}")
    for n in args.rollouts:
        for name, module in trees.items():
            figures = measure(module, n, args.rounds)
            runs.append({"tree": name, "rollouts": n, **figures})
            print(f"{name:8} {n:>7} {figures['whole_ms']:>9.1f} ms {figures['whole_kib']:>6.0f} KiB"
                  f" {figures['one_family_ms']:>9.2f} ms {figures['one_family_bytes']:>5} B",
                  flush=True)  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
