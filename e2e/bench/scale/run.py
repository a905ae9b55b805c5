"""One scale run on the local control plane: N Rollouts adopted, a wave of releases, measured.

1. A controller process (``python -m controller run``, all namespaces, as the shipped
   ServiceAccount) starts and leads; its RSS and CPU are read from ``/proc``. With
   ``--shards K``, R processes start (``e2e.bench.scale.fleet``) and every shard is
   held before the run goes on; RSS, CPU and writes are summed over them, and the
   run ends with the load split and a failover (``e2e.bench.scale.failover``).
2. N Deployments (1 replica, kwok pods) are created and become available, then N
   Rollouts (``setWeight: 50``, then a timed pause); adoption lasts until every
   Rollout is Healthy with a stable revision.
3. Idle: once the controller's writes have stopped for 5 s (``writes_quiet_s``:
   the Events adoption queued are sent), up to 100 Rollouts are annotated, each
   annotation one reconcile with nothing to change; the controller's writes
   meanwhile are the idle writes (``idle_writes_by``: by verb and resource).
   Then the cluster settles (``e2e.bench.scale.settle``): the adopted Deployments'
   pods, scaled away once the stable serves, are deleted and the controller
   manager's queues drained (``pods_settled_s``; at most ``300 + 0.3 N`` s, after
   which ``pods_behind_at_wave`` and ``kcm_queues_at_wave`` say how far from
   settled the wave started).
4. The wave: up to 100 Deployments get a new image at once (16 threads). Each
   Rollout's step latency is its release (the API server's receipt, audit log) →
   ``stepStartedAt`` of its pause step (the controller's clock; same host); the
   wave lasts from the first release to the last of those. Event → action is a
   release → the controller's first write for that Rollout (audit log). The pause
   then runs out and every released Rollout must be Healthy again.

Writes are the controller's ``landinggear_api_writes_total`` (Leases aside); the
audit log gives the per-verb rate. Reads are not counted anywhere (the controller
has no read counter, the audit policy records writes only): ``api_rps`` is writes.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api import v1alpha1
from controller.core.revisions import ROLLOUT_LABEL
from e2e.bench.scale import apiserver, failover, figures, floor, paced, realistic, settle
from e2e.bench.scale.fleet import Fleet
from e2e.bench.scale.objects import (
    PREFIX,
    admin_client,
    deployment,
    group_of,
    in_parallel,
    list_rollouts,
    names,
    pods_behind,
    remove_old_runs,
    rollout,
)
from e2e.bench.scale.realistic import HISTORY_RELEASES
from e2e.localcluster import accounts, build, cluster, monitoring, pki
from e2e.localcluster.controlplane import AUDIT_LOG, CONTROLLER_USER

__all__ = ["Options", "run"]

ROOT = Path(__file__).resolve().parents[3]
WAVE = 100
IDLE_TOUCHES = 100
DONE = 'landinggear_reconcile_total{result="done"}'
EVENTS = "create events"
"""Events, counted among the writes; the controller sends them on a token bucket of their own."""
NEW_IMAGE = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}}


@dataclass(frozen=True, kw_only=True)
class Options:
    rollouts: int
    pause_s: int
    log_dir: Path
    progress: Callable[[str], None]
    shards: int = 1
    replicas: int = 1
    """Controller processes; with ``shards`` above 1 they share the shards."""
    unreferenced: int = 0
    """Deployments (0 replicas) no Rollout references, created beside the N."""
    controller_args: tuple[str, ...] = ()
    """Added to each controller's command line (``--qps``, ``--burst``, ``--workers``)."""
    controller_env: Mapping[str, str] = field(default_factory=dict)
    """Added to each controller process' environment (``--env``)."""
    controller_root: Path = ROOT
    """The checkout whose ``python -m controller`` runs (``--before``: an older one)."""
    realistic: bool = False
    """Issue 15's realistic objects, all N progressing at the end
    (``e2e.bench.scale.realistic``) instead of the wave and the paced releases."""
    history: int = HISTORY_RELEASES
    """Realistic only: releases in a row per Rollout before the measurement."""
    paced: bool = True
    """After the wave, 50 releases at 10 per second (``e2e.bench.scale.paced``);
    unsharded runs only (a sharded run's failover releases the same Rollouts)."""


def _wait(what: str, check: Callable[[], bool], *, timeout: float, every: float = 0.5) -> float:
    """Seconds until ``check()``; a check the API server answered with 429 or a 5xx
    (say a 504 "Too large resource version" while its watch cache lags at N = 1,000)
    counts as not yet, and is asked again at the next poll."""
    started = time.monotonic()
    while not _checked(check):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"scale: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


def _checked(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except ApiException as err:
        if err.status == 429 or (err.status or 0) >= 500:
            return False
        raise


def _statuses(
    api: ApiClient, namespace: str, only: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Rollout → status: every Rollout's, or (listed by group) those of ``only``'s groups."""
    groups = {group_of(name) for name in only or ()}
    listed = list_rollouts(api, namespace, groups=groups)
    return {r["metadata"]["name"]: r.get("status") or {} for r in listed}


def _per(now: dict[str, float], before: dict[str, float], n: int) -> dict[str, float]:
    """Writes since ``before`` per one of ``n``, by ``verb resource``."""
    return {k: round((v - before.get(k, 0.0)) / n, 2) for k, v in sorted(now.items())
            if v > before.get(k, 0.0)}  # fmt: skip


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _stamp(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


def run(options: Options, state: cluster.State) -> dict[str, Any]:
    """Measure one run of ``options.rollouts`` Rollouts on ``state``'s cluster."""
    n, say = options.rollouts, options.progress
    api = admin_client(state.kubeconfig)
    apps, custom = client.AppsV1Api(api), client.CustomObjectsApi(api)
    audit = Path(state.kubeconfig).parent / AUDIT_LOG
    remove_old_runs(api)
    audit_start = audit.stat().st_size
    crd = ROOT / "manifests" / "crds" / "rollouts.landinggear.dev.yaml"
    kubectl = build.ensure_binaries().kubectl
    subprocess.run(
        [str(kubectl), f"--kubeconfig={state.kubeconfig}", "apply", "--server-side",
         "--force-conflicts", "-f", str(crd)], check=True, capture_output=True,
    )  # fmt: skip
    namespace = f"{PREFIX}-{secrets.token_hex(3)}"
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
    )
    # As installed (manifests/controller/flowschema.yaml): the Lease's requests at the
    # leader-election priority level, for the run's namespace, where its Leases are.
    flow = yaml.safe_load((ROOT / "manifests" / "controller" / "flowschema.yaml").read_text())
    flow["metadata"]["name"] = f"{PREFIX}-leader-election"
    flow["spec"]["rules"][0]["resourceRules"][0]["namespaces"] = [namespace]
    subprocess.run([str(kubectl), f"--kubeconfig={state.kubeconfig}", "apply", "-f", "-"],
                   input=json.dumps(flow), text=True, check=True, capture_output=True)  # fmt: skip
    options.log_dir.mkdir(parents=True, exist_ok=True)
    as_controller = accounts.controller_kubeconfig(
        kubectl, Path(state.kubeconfig), options.log_dir / "controller.kubeconfig",
        lease_namespaces=(namespace,),
    )  # fmt: skip
    all_names = names(n)
    out: dict[str, Any] = dict.fromkeys(figures.KEYS)
    out.update(rollouts=n, shards=options.shards, replicas=options.replicas)

    say(f"namespace {namespace}: creating {n} Deployments")
    started = time.monotonic()
    replicas = {name: realistic.replicas_of(i) if options.realistic else 1
                for i, name in enumerate(all_names)}  # fmt: skip
    in_parallel(all_names, lambda name: apps.create_namespaced_deployment(
        namespace, cast(Any, deployment(name, replicas=replicas[name]))))  # fmt: skip
    out["pods"] = sum(replicas.values())

    def available() -> bool:
        items = apps.list_namespaced_deployment(namespace).items
        return sum(1 for d in items if d.status and d.metadata and d.status.available_replicas
                   == replicas.get(str(d.metadata.name))) == n  # fmt: skip

    _wait(f"{n} Deployments available", available, timeout=120 + n * 0.2, every=2)
    out["deployments_ready_s"] = round(time.monotonic() - started, 1)
    if options.unreferenced:
        say(f"creating {options.unreferenced} Deployments no Rollout references")
        others = [f"u-{name[2:]}" for name in names(options.unreferenced)]
        in_parallel(others, lambda name: apps.create_namespaced_deployment(
            namespace, cast(Any, deployment(name, replicas=0))))  # fmt: skip
    out["unreferenced_deployments"] = options.unreferenced

    judged = (f"--prometheus-address={monitoring.url(state)}",) if options.realistic else ()
    controller = Fleet(as_controller, namespace, options.log_dir, replicas=options.replicas,
                       shards=options.shards, args=(*options.controller_args, *judged),
                       root=options.controller_root, env=options.controller_env)  # fmt: skip
    try:
        _wait("the controller to lead", lambda: controller.settled(api), timeout=120)
        out["rss_start_mib"] = round(controller.rss_mib(), 1)
        if options.shards > 1:
            out["shard_holders"] = {str(i): who for i, who in controller.holders(api).items()}
        writes0, reads0 = controller.writes_by(), controller.writes_by("reads")

        say(f"creating {n} Rollouts")
        started = time.monotonic()
        make = realistic.rollout if options.realistic else rollout
        in_parallel(all_names, lambda name: custom.create_namespaced_custom_object(
            v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL,
            make(name, pause_s=options.pause_s)))  # fmt: skip
        out["create_rollouts_s"] = round(time.monotonic() - started, 1)

        def healthy(only: list[str] | None = None) -> bool:
            statuses = _statuses(api, namespace, only)
            return all(
                statuses.get(name, {}).get("phase") == "Healthy"
                and statuses[name].get("stableRevision")
                for name in (only or all_names)
            )

        # A list of every Rollout: every 5 s past 1,000 (the API server serves the run too).
        _wait(f"{n} Rollouts Healthy", healthy, timeout=300 + n * 0.5, every=1 if n <= 1000 else 5)
        out["adoption_s"] = round(time.monotonic() - started, 1)
        time.sleep(3)  # writes the last status changes triggered
        out["adoption_writes_by"] = _per(controller.writes_by(), writes0, n)
        out["writes_per_adoption"] = round(sum(out["adoption_writes_by"].values()), 2)
        out["events_per_adoption"] = out["adoption_writes_by"].get(EVENTS, 0.0)  # own bucket
        out["adoption_reads_by"] = _per(controller.writes_by("reads"), reads0, n)
        out["rss_adopted_mib"] = round(controller.rss_mib(), 1)
        out["cpu_adopted_s"] = round(controller.cpu_seconds(), 1)
        say(f"adopted in {out['adoption_s']}s; idle reconciles")

        # Idle from a controller at rest: the Adopted Events still queued when the last
        # Rollout turned Healthy (at N = 1,000, about 250) are sent first.
        quiet = settle.quiet(controller.writes, for_s=5)
        out["writes_quiet_s"] = round(_wait("the writes to stop", quiet, timeout=300), 1)
        touched = all_names[:IDLE_TOUCHES]
        done = controller.value(DONE)
        writes1, by1 = controller.writes(), controller.writes_by()
        in_parallel(touched, lambda name: custom.patch_namespaced_custom_object(
            v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL, name,
            {"metadata": {"annotations": {"bench/touch": "1"}}}))  # fmt: skip
        _wait("idle reconciles", lambda: controller.value(DONE) >= done + len(touched), timeout=120)
        time.sleep(2)
        out["idle_writes"] = controller.writes() - writes1
        out["idle_writes_by"] = _per(controller.writes_by(), by1, 1)
        out["idle_reconciles"] = len(touched)

        if options.realistic:
            out.update(realistic.progressing(
                api, namespace, all_names, controller, history=options.history, wait=_wait,
                say=say))  # fmt: skip
            out["rss_mib"], out["cpu_s"] = out["rss_progressing_after_mib"], round(
                controller.cpu_seconds(), 1)  # fmt: skip
            out["apiserver_rss_mib"] = round(figures.rss_mib(state.pids["kube-apiserver"]), 1)
            out["etcd_rss_mib"] = round(figures.rss_mib(state.pids["etcd"]), 1)
            return out

        # Adoption's aftermath, which the wave must not wait behind (e2e.bench.scale.settle).
        say("the cluster settling: the adopted Deployments' pods gone, its queues drained")
        try:
            out["pods_settled_s"] = round(_wait(
                f"{out['pods']} pods, none terminating, the controller manager's queues empty",
                lambda: settle.settled_after(settle.queue_depths(state),
                                             lambda: pods_behind(api, namespace, out["pods"])),
                timeout=300 + n * 0.3, every=2 if n <= 1000 else 10))  # fmt: skip
        except TimeoutError as err:
            say(f"{err}; going on")
        out["pods_behind_at_wave"] = pods_behind(api, namespace, out["pods"])
        out["kcm_queues_at_wave"] = settle.queue_depths(state)

        wave = all_names[:WAVE]
        say(f"wave of {len(wave)} releases")
        audit_offset = audit.stat().st_size
        writes2, reads2 = controller.writes_by(), controller.writes_by("reads")
        server0 = apiserver.scrape(api)
        in_parallel(wave, lambda name: apps.patch_namespaced_deployment(name, namespace, NEW_IMAGE))

        depth = [0.0]
        reconciles0 = controller.value("landinggear_reconcile_total{")
        busy0 = controller.value("landinggear_reconcile_duration_seconds_sum")

        available_at: dict[str, float] = {}

        def paused() -> bool:
            depth.append(controller.value("landinggear_workqueue_depth"))
            seen = time.time()
            for rs in apps.list_namespaced_replica_set(
                namespace, label_selector=f"{ROLLOUT_LABEL} in ({','.join(wave)})"
            ).items:
                if rs.metadata and rs.status and (rs.status.available_replicas or 0) >= 1:
                    available_at.setdefault(str(rs.metadata.name), seen)
            items = _statuses(api, namespace, wave)
            return all(items[w].get("currentStepIndex") == 1 and items[w].get("canaryRevision")
                       for w in wave)  # fmt: skip

        _wait("the wave at its first pause", paused, timeout=300, every=0.25)
        server = apiserver.difference(server0, apiserver.scrape(api))
        out.update(apiserver.labelled("wave_apiserver", server.items()))
        statuses = _statuses(api, namespace, wave)
        out["wave_queue_depth_max"] = max(depth)
        out["wave_reconciles"] = controller.value("landinggear_reconcile_total{") - reconciles0
        busy = controller.value("landinggear_reconcile_duration_seconds_sum") - busy0
        out["wave_reconcile_mean_s"] = round(busy / max(out["wave_reconciles"], 1), 3)
        time.sleep(2)  # the Events, sent behind the reconciles
        out["step_writes_by"] = _per(controller.writes_by(), writes2, len(wave))
        out["writes_per_step"] = round(sum(out["step_writes_by"].values()), 2)
        out["events_per_step"] = out["step_writes_by"].get(EVENTS, 0.0)
        out["step_reads_by"] = _per(controller.writes_by("reads"), reads2, len(wave))
        out["rss_mib"] = round(controller.rss_mib(), 1)
        out["cpu_s"] = round(controller.cpu_seconds(), 1)
        if options.shards > 1:
            out["rss_mib_by_process"] = {c.identity: round(figures.rss_mib(c.proc.pid), 1)
                                         for c in controller.live()}  # fmt: skip
        time.sleep(1)  # the audit log is written asynchronously
        writes = figures.audit_writes(audit, namespace=namespace, offset=audit_offset)
        released = {w.name: w.at for w in writes if w.user == pki.ADMIN.user
                    and w.resource == "deployments" and w.name in wave}  # fmt: skip
        if len(released) == len(wave):
            start = min(released.values())
            reached = {w: _stamp(statuses[w].get("stepStartedAt")) for w in wave}
            steps = [reached[w] - released[w] for w in wave]
            # Seen at most one poll (0.25 s + a list) after it happened.
            canary = {w: available_at.get(f"{w}-{statuses[w].get('canaryRevision')}") for w in wave}
            pods = [c - released[w] for w, c in canary.items() if c is not None]
            after = [reached[w] - c for w, c in canary.items() if c is not None]
            out["canaries_seen_available"] = len(pods)
            out["release_to_canary_available_p50_s"] = _rounded(figures.percentile(pods, 50))
            out["canary_available_to_pause_p50_s"] = _rounded(figures.percentile(after, 50))
            end = max(reached.values())
            out["wave100_all_paused_s"] = round(end - start, 2)
            out["step_latency_p50_s"] = round(cast(float, figures.percentile(steps, 50)), 2)
            out["step_latency_p99_s"] = round(cast(float, figures.percentile(steps, 99)), 2)
            acted = figures.first_action_latencies(released, writes, user=CONTROLLER_USER)
            out["releases_acted_on"] = len(acted)
            creates = [w for w in writes if (w.verb, w.resource) == ("create", "replicasets")]
            created = figures.first_action_latencies(released, creates, user=CONTROLLER_USER)
            for q in (50, 99):
                out[f"event_to_action_p{q}_s"] = _rounded(figures.percentile([*acted.values()], q))
                out[f"release_to_canary_rs_created_p{q}_s"] = _rounded(
                    figures.percentile([*created.values()], q)
                )
            by_verb = figures.rate_by_verb(writes, user=CONTROLLER_USER, start=start, end=end)
            out["api_rps"] = round(sum(by_verb.values()), 1)
            out["api_rps_by_verb"] = by_verb
        else:  # the audit log rotated or lost lines: say so rather than guess
            say(f"audit log holds {len(released)} of {len(wave)} releases; latencies not measured")

        say("waiting for the wave to be promoted")
        _wait("the wave Healthy again", lambda: healthy(wave), timeout=120 + options.pause_s)
        say(f"the cluster's floor: {len(wave)} ReplicaSets created at once, no controller")
        out.update(floor.floor(api, namespace, count=len(wave), wait=_wait))
        if options.paced and options.shards == 1:  # the failover releases these again
            # Released again (a new image) if N leaves no fresh Rollouts: all are Healthy.
            fresh = all_names[WAVE:] or all_names
            chosen = fresh[: paced.PACED_RELEASES]
            canaries = {name: statuses[name].get("canaryRevision") for name in chosen
                        if name in statuses}  # fmt: skip

            def taken(name: str) -> bool:
                now = _statuses(api, namespace, [name]).get(name, {})
                canary = now.get("canaryRevision")
                return bool(canary) and canary != canaries.get(name)

            out.update(paced.paced(api, namespace, chosen, audit=audit, released=taken,
                                   say=say))  # fmt: skip
            _wait("the paced releases Healthy again", lambda: healthy(chosen),
                  timeout=120 + options.pause_s)  # fmt: skip
        out["apiserver_rss_mib"] = round(figures.rss_mib(state.pids["kube-apiserver"]), 1)
        out["etcd_rss_mib"] = round(figures.rss_mib(state.pids["etcd"]), 1)
        out["controller_exited"] = len(controller.live()) < len(controller.members)
        if options.shards > 1:
            out.update(failover.split(controller, api, all_names, audit=audit, since=audit_start))
            say("failover: killing the replica that holds the most shards")
            out.update(failover.run(controller, api, all_names, audit=audit, say=say))
    finally:
        controller.stop()
        with contextlib.suppress(Exception):
            remove_old_runs(api, timeout=0)
    return out
