"""``python -m e2e.bench.soak [--quick] [--seed N] [--json PATH]``: releases under faults.

On the local control plane (started if needed) with a real Prometheus, demo
apps and traffic: 100 Rollouts (20 with ``--quick``, about 5 minutes) release at
once, two in five healthy, the others bad from their first request (errors,
latency) or late (a regression after promotion, the guard's to catch). Meanwhile
the controller's leader is SIGKILLed every 10-30 s (restarted in place, or its
pod replaced by one with a new identity), a second replica runs for a while, the
API server is restarted twice and Prometheus is stopped for 60 s. Every stored
version of every Rollout is read from etcd's watch and checked (see
``e2e.bench.soak.checks``). Exit status 1 if an invariant broke or an outcome
was wrong.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from e2e.bench.soak.plan import FaultKind, Kind, Shape, make_plan
from e2e.bench.soak.run import Outcome, run


def _figures(outcome: Outcome) -> dict[str, Any]:
    report, plan, tally = outcome.report, outcome.plan, outcome.tally
    lags = [o.last_request_after_abort for o in report.outcomes if o.last_request_after_abort]
    cluster = [o.cluster_took for o in report.outcomes if o.cluster_took is not None]
    return {
        "rollouts": plan.shape.rollouts,
        "seed": outcome.seed,
        "seconds": round(outcome.seconds, 1),
        "kills": tally.crashes + tally.replacements,
        "kills_in_place": tally.crashes,
        "pods_replaced": tally.replacements,
        "controller_exits_on_its_own": tally.own_exits,
        "apiserver_restarts": len(outcome.api_restarts),
        "apiserver_down_s": [round(s, 1) for s in outcome.api_restarts],
        "prometheus_down_s": round(outcome.prometheus_down, 1),
        "two_replicas_s": round(outcome.standby_for, 1),
        "controllers_that_wrote": len(outcome.writers),
        "outcomes": {
            "promoted_good": report.count(right=True, bad=False),
            "aborted_bad": report.count(right=True, bad=True),
            "wrong": len(report.wrong),
        },
        "wrong": [f"{o.rollout} ({o.kind}): {o.result}: {o.detail}" for o in report.wrong],
        "violations": report.violations + [f"harness: {e}" for e in outcome.etcd_errors],
        "requests": {
            "sent": outcome.sent,
            "dropped": outcome.dropped,
            "unrouted": outcome.unrouted,
        },
        "abort_to_last_request_s": {
            "p50": round(statistics.median(lags), 2) if lags else None,
            "max": round(max(lags), 2) if lags else None,
        },
        "of_which_cluster_s": {  # the controller manager and kwok moving pods
            "p50": round(statistics.median(cluster), 2) if cluster else None,
            "max": round(max(cluster), 2) if cluster else None,
        },
    }


def _table(outcome: Outcome) -> str:
    rows = [f"{'kind':<9} {'n':>3} {'right':>5}  results{'':<28} release→decision p50 / max"]
    for kind in Kind:
        mine = [o for o in outcome.report.outcomes if o.kind is kind]
        if not mine:
            continue
        results = ", ".join(f"{k} {v}" for k, v in sorted(Counter(o.result for o in mine).items()))
        took = [o.release_to_decision for o in mine if o.release_to_decision is not None]
        span = f"{statistics.median(took):5.1f}s / {max(took):5.1f}s" if took else "-"
        right = sum(o.right for o in mine)
        rows.append(f"{kind:<9} {len(mine):>3} {right:>5}  {results:<35} {span}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.bench.soak", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 Rollouts, about 5 minutes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--log-dir", type=Path, help="controller, app and Prometheus logs")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="a running local cluster's admin kubeconfig (default: the local cluster, "
        "started if needed); the soak restarts its API server, so no other cluster will do",
    )
    args = parser.parse_args(argv)
    shape = Shape.quick() if args.quick else Shape.full()
    plan = make_plan(shape, args.seed)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="landinggear-soak-"))
    began = time.monotonic()

    def progress(line: str) -> None:
        print(f"[soak {time.monotonic() - began:6.1f}s] {line}", file=sys.stderr, flush=True)

    progress(
        f"{shape.rollouts} Rollouts, {plan.count(FaultKind.CRASH) + plan.count(FaultKind.REPLACE)}"
        f" kills planned; logs in {log_dir}"
    )
    outcome = run(
        plan, seed=args.seed, log_dir=log_dir, progress=progress, kubeconfig=args.kubeconfig
    )
    figures = _figures(outcome)
    print(_table(outcome))
    print(
        f"\n{figures['rollouts']} Rollouts in {figures['seconds']} s; "
        f"{figures['kills']} leader kills ({figures['kills_in_place']} in place, "
        f"{figures['pods_replaced']} pods replaced), "
        f"{figures['controller_exits_on_its_own']} exits on its own; API server restarted "
        f"{figures['apiserver_restarts']} times (down {figures['apiserver_down_s']} s); "
        f"Prometheus down {figures['prometheus_down_s']} s; two replicas for "
        f"{figures['two_replicas_s']} s"
    )
    print(
        f"outcomes: {figures['outcomes']}; requests {figures['requests']}; "
        f"abort stored → last request to the revision: "
        f"p50 {figures['abort_to_last_request_s']['p50']} s, "
        f"max {figures['abort_to_last_request_s']['max']} s (of which the cluster moving pods: "
        f"p50 {figures['of_which_cluster_s']['p50']} s, "
        f"max {figures['of_which_cluster_s']['max']} s)"
    )
    for line in figures["wrong"]:
        print(f"WRONG {line}")
    for line in figures["violations"]:
        print(f"VIOLATION {line}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 1 if figures["wrong"] or figures["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
