"""The realistic profile (``--realistic``): what N *progressing* Rollouts cost.

The minimal profile's objects are as small as a Rollout gets (1 replica, two steps,
no analysis, a short history). Here, as issue 15's memory target asks:

- Deployments of 3 to 10 replicas (``3 + i mod 8``);
- Rollouts of four steps (``setWeight: 20``, an analysis step, ``setWeight: 50``, a
  pause), judged every 10 s on the ``app-errors`` builtin against the cluster's real
  Prometheus (``--prometheus-address``);
- a full history: after adoption every Rollout is released ``history`` times in a
  row, each new image superseding the release before (two history entries each:
  Superseded, ReleaseStarted), so its status history reaches its cap
  (:data:`controller.api.status.HISTORY_LIMIT`);
- then all N are progressing at once, held at their analysis step: kwok's pods
  serve no metrics, so every look finds no data and the analysis keeps looking
  (it stops at ``maxDuration``, far beyond the run) — the looks, their queries to
  Prometheus and the requeues run all the same.

Measured once every Rollout is there: the controller's RSS, then, from
:data:`SETTLED_S` after the last release (an analysis' start is read once, when
it can no longer change: ``controller.providers.counters.SETTLED_AFTER``) and
over :data:`SETTLE_S` seconds of N progressing Rollouts, its CPU share, the
analysis looks per second, those that failed and the Prometheus timeouts among
them, how long a look waited for its turn at Prometheus, and its API writes per
second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient

from controller.api import v1alpha1
from e2e.bench.scale.fleet import Fleet
from e2e.bench.scale.objects import (
    GROUP_LABEL,
    group_of,
    in_parallel,
    list_rollouts,
    pods_behind,
)

__all__ = ["ANALYSIS_STEP", "HISTORY_RELEASES", "SETTLE_S", "progressing", "replicas_of", "rollout"]

ANALYSIS_STEP = 1
"""The index of the analysis step, where every released Rollout is held."""
HISTORY_RELEASES = 10
"""Releases in a row per Rollout by default: 20 history entries, the cap."""
SETTLE_S = 60.0
SETTLED_S = 150.0
"""Seconds from the last release to the measuring minute: the analyses' start reads
settle at two minutes."""
LOOKS = "landinggear_analysis_looks_total{"
FAILED_LOOKS = 'landinggear_analysis_looks_total{result="error"}'
TIMEOUTS = (
    'landinggear_provider_errors_total{kind="timeout",provider="prometheus"}'  # labels sorted
)
WAITED = "landinggear_analysis_look_wait_seconds_sum "
WAITS = "landinggear_analysis_look_wait_seconds_count "


def replicas_of(index: int) -> int:
    return 3 + index % 8


def rollout(name: str, *, pause_s: int) -> dict[str, Any]:
    steps = [
        {"setWeight": 20},
        {"analysis": {"maxDuration": "6h"}},
        {"setWeight": 50},
        {"pause": {"duration": f"{pause_s}s"}},
    ]
    analysis = {
        "interval": "10s",
        "metrics": [{"name": "errors", "builtin": "app-errors"}],
    }
    return {
        "apiVersion": v1alpha1.API_VERSION,
        "kind": v1alpha1.KIND,
        "metadata": {"name": name, "labels": {GROUP_LABEL: group_of(name)}},
        "spec": {
            "workloadRef": {"name": name},
            "strategy": {"canary": {"steps": steps, "analysis": analysis}},
        },
    }


def _image(generation: int) -> dict[str, Any]:
    container = {"name": "app", "image": f"app:r{generation}"}
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


def _canaries(api: ApiClient, namespace: str) -> dict[str, tuple[str | None, int | None, int]]:
    """Each Rollout's (canary revision, current step, history entries)."""
    return {
        r["metadata"]["name"]: (
            (r.get("status") or {}).get("canaryRevision"),
            (r.get("status") or {}).get("currentStepIndex"),
            len((r.get("status") or {}).get("history") or []),
        )
        for r in list_rollouts(api, namespace)
    }


def progressing(
    api: ApiClient,
    namespace: str,
    names: list[str],
    controller: Fleet,
    *,
    history: int,
    wait: Callable[..., float],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Release every Rollout ``history`` times in a row, then hold all at their analysis
    step and measure (see the module docstring)."""
    apps = client.AppsV1Api(api)
    out: dict[str, Any] = {}
    started = time.monotonic()
    for generation in range(1, history + 1):
        before = {name: canary for name, (canary, _, _) in _canaries(api, namespace).items()}
        say(f"release {generation} of {history} for all {len(names)} Rollouts")
        patch = _image(generation)

        def release(name: str, patch: dict[str, Any] = patch) -> object:
            return apps.patch_namespaced_deployment(name, namespace, patch)

        in_parallel(names, release)

        def taken(before: dict[str, str | None] = before) -> bool:
            now = _canaries(api, namespace)
            return all(now[n][0] and now[n][0] != before.get(n) for n in names)

        wait(f"release {generation} taken by all", taken, timeout=300 + len(names) * 0.5, every=2)
        # The next round only once the cluster has caught up with this one's pods: at
        # N = 1,000 without this, kwok's node fell 5,500 pods behind by round 10.
        try:
            wait(
                f"release {generation}'s pods up, the old ones gone",
                lambda: pods_behind(api, namespace) == 0,
                timeout=300 + len(names) * 0.5,
                every=5,
            )
        except TimeoutError as err:
            say(f"{err}; {pods_behind(api, namespace)} pods behind, going on")
    last_release = time.monotonic()

    def held() -> bool:
        now = _canaries(api, namespace)
        return all(now[n][0] and now[n][1] == ANALYSIS_STEP for n in names)

    # After the last round the cluster still brings up and removes earlier rounds' pods
    # (at N = 1,000 and H = 10, 1,600 pods Pending and 3,900 Terminating 8 min on).
    wait("every Rollout at its analysis", held, timeout=300 + len(names) * 1.5, every=2)
    out["all_progressing_s"] = round(time.monotonic() - started, 1)
    entries = [h for _, _, h in _canaries(api, namespace).values()]
    out["history_entries_mean"] = round(sum(entries) / max(len(entries), 1), 1)
    out["rss_progressing_mib"] = round(controller.rss_mib(), 1)
    settling = SETTLED_S - (time.monotonic() - last_release)
    if settling > 0:
        say(f"all progressing; {settling:.0f} s for the analyses' start reads to settle")
        time.sleep(settling)
    counters = (LOOKS, FAILED_LOOKS, TIMEOUTS, WAITED, WAITS)
    looks0, failed0, timeouts0, waited0, waits0 = (controller.value(c) for c in counters)
    cpu0, writes0 = controller.cpu_seconds(), controller.writes()
    say(f"measuring for {SETTLE_S:.0f} s")
    time.sleep(SETTLE_S)
    looks, failed, timeouts, waited, waits = (controller.value(c) for c in counters)
    out["progressing_looks_per_s"] = round((looks - looks0) / SETTLE_S, 1)
    out["progressing_failed_looks_per_s"] = round((failed - failed0) / SETTLE_S, 2)
    out["progressing_timeouts_per_s"] = round((timeouts - timeouts0) / SETTLE_S, 2)
    # n/m: a controller without the wait histogram (a --before worktree)
    out["progressing_look_wait_mean_s"] = (
        round((waited - waited0) / (waits - waits0), 2) if waits > waits0 else None
    )
    out["progressing_cpu_share"] = round((controller.cpu_seconds() - cpu0) / SETTLE_S, 3)
    out["progressing_writes_per_s"] = round((controller.writes() - writes0) / SETTLE_S, 2)
    out["rss_progressing_after_mib"] = round(controller.rss_mib(), 1)
    return out
