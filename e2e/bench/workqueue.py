"""``python -m e2e.bench.workqueue [--before CHECKOUT] [--rounds R] [--seconds S] [--quick]``.

The controller's work queue under the controller's own load, side by side with an
older checkout's queue (``controller/kube/workqueue.py`` loaded from that tree; it
imports only the standard library), in alternating rounds in one process:

- 16 worker threads (the controller's default), each key's processing holding the
  GIL for about 100 µs of Python (a reconcile's decide and status, scaled down);
- 1,000 keys; a processed key is requeued after 0.2 to 2 s (``add_after``, as a
  Rollout's next wake-up), and another thread adds keys at once (``add``, as watch
  events) at 500 a second.

Printed per queue: keys processed per second, the process' CPU seconds per 1,000
keys, and how late a delayed key was handed out after its time (p50 / p99): a
queue that wakes fewer workers must still hand every delayed key out on time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from e2e.bench.trees import load_from

WORKERS = 16
KEYS = 1000
ADDS_PER_S = 500
WORK_ITERATIONS = 1500
"""A loop of this many additions holds the GIL for about 100 µs here."""


def load(tree: Path, name: str) -> ModuleType:
    """``controller/kube/workqueue.py`` of ``tree``."""
    return load_from(tree / "controller" / "kube" / "workqueue.py", name, missing="no work queue")


def _work() -> int:
    total = 0
    for i in range(WORK_ITERATIONS):
        total += i
    return total


def run_round(module: ModuleType, seconds: float, seed: int) -> dict[str, float]:
    queue: Any = module.WorkQueue()
    due: dict[int, float] = {}
    late: list[float] = []
    processed = 0
    lock = threading.Lock()
    stop = threading.Event()

    def worker(rng: random.Random) -> None:
        nonlocal processed
        while (key := queue.get()) is not None:
            now = time.monotonic()
            with lock:
                ready_at = due.pop(key, None)
                if ready_at is not None:
                    late.append(max(0.0, now - ready_at))
                processed += 1
            _work()
            delay = rng.uniform(0.2, 2.0)
            with lock:
                due[key] = min(due.get(key, float("inf")), time.monotonic() + delay)
            queue.add_after(key, delay)
            queue.done(key)

    def events(rng: random.Random) -> None:
        every = 1 / ADDS_PER_S
        next_at = time.monotonic()
        while not stop.is_set():
            queue.add(rng.randrange(KEYS))
            next_at += every
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    for key in range(KEYS):
        queue.add(key)
    rngs = [random.Random(seed + i) for i in range(WORKERS + 1)]  # noqa: S311 - a load, not security
    threads = [threading.Thread(target=worker, args=(rng,)) for rng in rngs[:WORKERS]]
    threads.append(threading.Thread(target=events, args=(rngs[WORKERS],)))
    cpu0, wall0 = time.process_time(), time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    with lock:
        count = processed
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    stop.set()
    queue.shut_down_with_drain(timeout=5)
    for thread in threads:
        thread.join(5)
    waits = sorted(late)
    return {
        "keys_per_s": count / wall,
        "cpu_s_per_1000": 1000 * cpu / max(count, 1),
        "late_p50_ms": 1000 * waits[len(waits) // 2] if waits else 0.0,
        "late_p99_ms": 1000 * waits[int(len(waits) * 0.99)] if waits else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.bench.workqueue", description=__doc__)
    parser.add_argument("--before", type=Path, help="an older checkout's tree: the baseline")
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="1 round of 5 s each")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 1, 5.0
    queues = {"after": load(args.after, "workqueue_after")}
    if args.before is not None:
        queues = {"before": load(args.before, "workqueue_before"), **queues}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in queues}
    for round_ in range(args.rounds):
        for name, module in queues.items():
            figures = run_round(module, args.seconds, seed=1000 * round_)
            results[name].append(figures)
            shown = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
            print(f"[workqueue] round {round_ + 1} {name}: {shown}", flush=True)
    medians = {
        name: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        for name, rounds in results.items()
    }
    print(f"\nmedian of {args.rounds} round(s) of {args.seconds:.0f} s, {WORKERS} workers")
    print(f"{'figure':<18}" + "".join(f"{name:>12}" for name in medians))
    for key in next(iter(medians.values())):
        print(f"{key:<18}" + "".join(f"{m[key]:>12.2f}" for m in medians.values()))
    if args.json is not None:
        args.json.write_text(json.dumps({"medians": medians, "rounds": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
