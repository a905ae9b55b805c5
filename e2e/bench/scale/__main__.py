"""``python -m e2e.bench.scale [--rollouts N] [--unreferenced M] [--shards K [--replicas R]]
[--json PATH] [--quick]``.

One controller process (``--shards K``: R processes, default K, sharing K shards),
as the shipped ServiceAccount and over all namespaces,
against N minimal Rollouts (1 replica, ``setWeight: 50`` then a timed pause) on
the local control plane with kwok pods: its RSS and CPU seconds, the time and
writes to adopt them, the writes of idle reconciles, and a wave of 100
simultaneous releases (see ``e2e.bench.scale.run``). ``--unreferenced M`` adds M
Deployments no Rollout references (0 replicas): what a controller caching every
Deployment pays for. Prints a table; ``--json``
writes ``{"runs": [...]}`` with every key issue 15 names, null where not
measured. ``--quick`` is N = 100. Sharded, RSS and CPU are summed over the
processes, and the run ends with the load split and a failover
(``e2e.bench.scale.failover``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from e2e.bench.scale import figures
from e2e.bench.scale.run import Options, run
from e2e.localcluster import cluster, faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.bench.scale", description=__doc__)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[1000], metavar="N")
    parser.add_argument("--shards", type=int, default=1, metavar="K")
    parser.add_argument("--replicas", type=int, metavar="R", help="processes (default: K)")
    parser.add_argument("--quick", action="store_true", help="N = 100")
    parser.add_argument("--json", type=Path, metavar="PATH")
    parser.add_argument("--pause", type=int, default=15, help="the pause step, seconds")
    parser.add_argument("--unreferenced", type=int, default=0, metavar="M",
                        help="also M Deployments (0 replicas) no Rollout references")  # fmt: skip
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
    state = faults.state_of(args.kubeconfig) if args.kubeconfig else cluster.up(args.cluster)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="lg-scale-"))

    def say(message: str) -> None:
        print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    runs = []
    for n in sizes:
        load = os.getloadavg()
        say(f"N={n}: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; logs in {log_dir}")
        started = time.monotonic()
        figures_of_run = run(Options(rollouts=n, pause_s=args.pause, log_dir=log_dir / str(n),
                                     progress=say, shards=args.shards, replicas=replicas,
                                     unreferenced=args.unreferenced),
                             state)  # fmt: skip
        figures_of_run["load_average_1m"] = round(load[0], 2)
        figures_of_run["seconds"] = round(time.monotonic() - started, 1)
        runs.append(figures_of_run)
    print(figures.table(runs))
    print("n/m: not measured. api_rps counts writes only (reads are not counted);"
          " sharded, rss_mib and cpu_s are summed over the processes.")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
