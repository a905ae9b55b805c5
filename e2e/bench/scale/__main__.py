"""``python -m e2e.bench.scale [--rollouts N] [--unreferenced M] [--shards K [--replicas R]]
[--budget QPS/BURST[/WORKERS] …] [--env VAR=VALUE[,VAR=VALUE] …] [--before CHECKOUT]
[--json PATH] [--quick]``.

One controller process (``--shards K``: R processes, default K, sharing K shards), as
the shipped ServiceAccount and over all namespaces, against N minimal Rollouts (1
replica, ``setWeight: 50`` then a timed pause) on the local control plane with kwok
pods: its RSS and CPU seconds, the time and writes to adopt them, the writes of idle
reconciles, and a wave of 100 simultaneous releases (see ``e2e.bench.scale.run``).
``--unreferenced M`` adds M Deployments no Rollout references (0 replicas): what a
controller caching every Deployment pays for. Prints a table; ``--json`` writes
``{"runs": [...]}`` with every key issue 15 names, null where not measured, rewritten as
each run ends (as is the run's ``figures.json`` in its log directory), so stopping a
long invocation keeps the runs it finished. ``--quick`` is N = 100. Sharded, RSS and CPU
are summed over the processes, and the run ends with the load split and a failover
(``e2e.bench.scale.failover``). ``--budget 50/100 200/400`` runs each N once per
client-side API budget, side by side, with what the API server said meanwhile
(``e2e.bench.scale.apiserver``: APF rejections and queue wait, write latency);
``--before CHECKOUT`` first runs each N with an older checkout's controller (its own
defaults) as the baseline, in the same invocation on the same cluster.
``--env "" MALLOC_ARENA_MAX=16`` likewise runs each N once per environment given to the
controller processes (added to the bench's own; "" for none), side by side.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from e2e.bench.scale import figures, realistic
from e2e.bench.scale.run import ROOT, Options, run
from e2e.localcluster import cluster, faults


def _budget(text: str) -> tuple[str, tuple[str, ...]]:
    """``QPS/BURST[/WORKERS]`` as the controller's flags ("" for its defaults)."""
    if not text:
        return "", ()
    parts = text.split("/")
    try:
        if len(parts) not in (2, 3) or float(parts[0]) <= 0 or min(map(int, parts[1:])) < 1:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"--budget wants QPS/BURST or QPS/BURST/WORKERS (say 100/200/16), not {text!r}"
        ) from None
    flags = [f"--qps={parts[0]}", f"--burst={parts[1]}"]
    return text, (*flags, *([f"--workers={parts[2]}"] if len(parts) == 3 else []))


def _environment(text: str) -> dict[str, str]:
    """``VAR=VALUE[,VAR=VALUE]`` as a mapping ("" for none)."""
    found = {}
    for item in filter(None, text.split(",")):
        name, equals, value = item.partition("=")
        if not equals or not name.isidentifier():
            raise ValueError(f'--env {text!r}: want VAR=VALUE[,VAR=VALUE], or "" for none')
        found[name] = value
    return found


def _run_dir(n: int, budget: str, env: str, *, before: bool) -> str:
    label = f"{budget}{'-' + env if env else ''}"
    return f"{n}{re.sub(r'[^A-Za-z0-9_.=-]', '-', label)}{'-before' if before else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.bench.scale", description=__doc__)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[1000], metavar="N")
    parser.add_argument("--shards", type=int, default=1, metavar="K")
    parser.add_argument("--replicas", type=int, metavar="R", help="processes (default: K)")
    parser.add_argument("--quick", action="store_true", help="N = 100")
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="3-10 replicas, an analysis, a full history; all N progressing",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=realistic.HISTORY_RELEASES,
        metavar="H",
        help="--realistic: releases in a row per Rollout",
    )
    parser.add_argument("--json", type=Path, metavar="PATH")
    parser.add_argument("--pause", type=int, default=15, help="the pause step, seconds")
    parser.add_argument("--unreferenced", type=int, default=0, metavar="M",
                        help="also M Deployments (0 replicas) no Rollout references")  # fmt: skip
    parser.add_argument("--budget", nargs="+", default=[""], metavar="QPS/BURST[/WORKERS]",
                        help="run each N once per API budget given (--qps, --burst, "
                             "--workers), side by side; default: the controller's own")  # fmt: skip
    parser.add_argument("--env", nargs="+", default=[""], metavar="VAR=VALUE[,VAR=VALUE]",
                        help="run each N once per environment added to the controller "
                             "processes' (\"\" for none), side by side")  # fmt: skip
    parser.add_argument("--before", type=Path, metavar="CHECKOUT",
                        help="first run each N with this checkout's controller (say a "
                             "git worktree of the baseline), its own defaults")  # fmt: skip
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--kubeconfig", type=Path, help="a local cluster's admin kubeconfig")
    where.add_argument("--cluster", default="default", help="the local cluster's name")
    parser.add_argument("--log-dir", type=Path)
    args = parser.parse_args(argv)
    replicas = args.replicas or args.shards
    if not 1 <= args.shards <= 64 or not 1 <= replicas <= args.shards:
        print("need 1 <= --shards <= 64 and 1 <= --replicas <= --shards", file=sys.stderr)
        return 2
    if args.shards == 1 and replicas != 1:
        print("--replicas above 1 needs --shards above 1", file=sys.stderr)
        return 2
    sizes = [100] if args.quick else args.rollouts
    try:  # every refusal before the cluster, which takes minutes to start
        budgets = [_budget(text) for text in args.budget]
        envs = [(text, _environment(text)) for text in args.env]
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    controllers = [(ROOT, budget, env) for budget in budgets for env in envs]
    if args.before:
        if not (args.before / "controller" / "__main__.py").is_file():
            print(f"--before {args.before}: not a checkout of this project", file=sys.stderr)
            return 2
        controllers.insert(0, (args.before.resolve(), ("", ()), ("", {})))
    state = faults.state_of(args.kubeconfig) if args.kubeconfig else cluster.up(args.cluster)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="lg-scale-"))

    def say(message: str) -> None:
        print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    runs = []
    for n, (root, (budget, extra), (env_text, env)) in itertools.product(sizes, controllers):
        load = os.getloadavg()
        say(f"N={n} {budget} {env_text}: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
            f"logs in {log_dir}")  # fmt: skip
        started = time.monotonic()
        run_dir = _run_dir(n, budget, env_text, before=root != ROOT)
        figures_of_run = run(Options(rollouts=n, pause_s=args.pause, log_dir=log_dir / run_dir,
                                     progress=say, shards=args.shards, replicas=replicas,
                                     unreferenced=args.unreferenced, controller_args=extra,
                                     controller_env=env,
                                     realistic=args.realistic, history=args.history,
                                     controller_root=root),
                             state)  # fmt: skip
        figures_of_run["budget"] = budget or "default"
        figures_of_run["env"] = env_text or "default"
        figures_of_run["controller"] = "before" if root != ROOT else "this checkout"
        figures_of_run["load_average_1m"] = round(load[0], 2)
        figures_of_run["seconds"] = round(time.monotonic() - started, 1)
        runs.append(figures_of_run)
        # Kept as each run ends: a long invocation stopped part way keeps its finished runs.
        kept = log_dir / run_dir / "figures.json"
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(json.dumps(figures_of_run, indent=2))
        if args.json:
            args.json.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
        say(f"N={n} {budget} {env_text}: done in {figures_of_run['seconds']:.0f} s; "
            f"figures in {kept}")  # fmt: skip
    print(figures.table(runs))
    print("n/m: not measured. api_rps counts writes only (reads are not counted);"
          " sharded, rss_mib and cpu_s are summed over the processes.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
