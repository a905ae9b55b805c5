"""``landinggear run``: informers, a work queue, workers, leader election, signals.

Informers fill the queue whether or not this process leads (a warm standby);
workers reconcile only while it holds the Lease. Every write is fenced: it
leaves only while leadership is held with ``fence_margin`` to spare, by this
process' own clock, so a leader that was frozen or cut off writes nothing once
a standby could lead; an in-flight reconcile is abandoned at its next write.
Losing the Lease stops the workers and the process exits 1. SIGTERM finishes
in-flight reconciles, releases the Lease and exits 0 (while the caches still wait
to sync, it just exits 0), within ``--shutdown-timeout`` even when the API server
no longer answers. A Lease that cannot be used
at all (its namespace missing, RBAC forbidding it) ends the process at start, exit
code 3, with what to do.

The Lease has its own client: no rate limiter, no retries, each request bounded
by what is left of the renew round, so API load cannot delay a renewal.

With ``--shards K`` above 1 (:mod:`controller.shards`) there is no single leader:
every replica holds its fair share of K shard Leases, workers reconcile only the
Rollouts of shards held (a shard gained enqueues all of its Rollouts), every write
is fenced by the shard of the Rollout being reconciled, and a lost shard stops its
writes without ending the process. SIGTERM gives every shard back and exits 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from wsgiref.simple_server import WSGIServer

import structlog

from controller import __version__
from controller.api import v1alpha1
from controller.backends import flag_switches, metric_secrets, prometheus_default
from controller.clients import api_client, events_client, lease_client
from controller.core.revisions import ROLLOUT_LABEL
from controller.core.sharding import lease_names, member_lease_names
from controller.core.world import MANAGED_BY_LABEL
from controller.deadline import Deadline
from controller.kube.errors import describe
from controller.kube.fencing import Fence, LeadershipLost
from controller.kube.informer import Handlers, Informer
from controller.kube.kubeconfig import SERVICE_ACCOUNT_NAMESPACE, api_configuration, home_namespace
from controller.kube.leaderelection import ElectionConfig, ElectionOutcome, LeaderElector
from controller.kube.lease import KubeLeaseLock, LeaseUnusable
from controller.kube.objects import KubeObject, ObjectKey, key_of, owner_uids, strip_noise
from controller.kube.workqueue import WorkQueue
from controller.metrics import Metrics, serve
from controller.reconcile.actuator import DEPLOYMENTS, REPLICA_SETS, ROLLOUTS, Actuator
from controller.reconcile.analyst import Analyst
from controller.reconcile.events import EventRecorder
from controller.reconcile.measuring import Measurer
from controller.reconcile.reconciler import OWNER_INDEX, Observation, Reconciler
from controller.reconcile.workloads import DeploymentLookup, slim_deployment, slim_replica_set
from controller.settings import Settings
from controller.shards import ShardSet
from controller.traffic.registry import routers

log = structlog.get_logger("landinggear.manager")

WORKLOAD_INDEX = "workload"

EXIT_LEASE_UNUSABLE = 3
"""Exit code when the Lease's namespace is missing or RBAC forbids the Lease."""


def _workload_keys(obj: KubeObject) -> list[str]:
    meta = obj.get("metadata", {})
    name = (obj.get("spec", {}).get("workloadRef") or {}).get("name")
    return [f"{meta.get('namespace')}/{name}"] if name else []


class Manager:
    """Wires the informers, queue, reconciler and workers of one controller process."""

    def __init__(
        self, settings: Settings, *, namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE
    ) -> None:
        self.settings = settings
        identity = settings.identity or f"{socket.gethostname()}_{os.getpid()}"
        agent = f"landinggear/{__version__} ({identity})"
        where = {"kubeconfig": settings.kubeconfig, "context": settings.context}
        configuration = api_configuration(**where)
        self.elector: LeaderElector | None = None
        self.lease: KubeLeaseLock | None = None
        self.shards: ShardSet | None = None
        self._working = threading.Event()
        self.metrics = Metrics(
            observed=self._observed,
            queue_depth=lambda: self.queue.depth,
            leading=self.leading,
            per_rollout=settings.per_rollout_metrics,
            shards_held=(lambda: len(self.shards.held()) if self.shards else 0)
            if settings.shards > 1
            else None,
        )
        counted = self.metrics.count_write
        election = ElectionConfig(
            lease_duration=settings.lease_duration,
            renew_deadline=settings.renew_deadline,
            retry_period=settings.retry_period,
        )
        if settings.leader_elect:
            leases = lease_client(
                configuration, agent=agent, on_write=counted, on_read=self.metrics.count_read
            )
            lease_ns = settings.lease_namespace or home_namespace(
                **where, namespace_file=namespace_file
            )

            def locks(names: list[str]) -> list[KubeLeaseLock]:
                return [KubeLeaseLock(leases, namespace=lease_ns, name=name) for name in names]

            shard_locks = locks(lease_names(settings.lease_name, settings.shards))
            self.lease = shard_locks[0]
            if settings.shards == 1:
                self.elector = LeaderElector(self.lease, identity, config=election)
            else:
                self.shards = ShardSet(
                    identity=identity,
                    shard_locks=shard_locks,
                    member_locks=locks(member_lease_names(settings.lease_name, settings.shards)),
                    config=election,
                    on_gained=self._shard_gained,
                    drain_timeout=self._grace() * 0.8,
                    single_lock=locks([settings.lease_name])[0],
                )
        holds = (
            self.shards.may_write if self.shards else self.elector.holds if self.elector else None
        )
        self.fence = Fence(holds, margin=settings.fence_margin)
        self.api = api_client(
            settings,
            configuration,
            fence=self.fence,
            agent=agent,
            on_write=counted,
            on_read=self.metrics.count_read,
        )
        ns = settings.namespace
        timeout = settings.watch_timeout
        self.rollouts = Informer(
            self.api,
            ROLLOUTS,
            namespace=ns,
            transform=strip_noise,
            indexers={WORKLOAD_INDEX: _workload_keys},
            watch_timeout_seconds=timeout,
        )
        self.deployments = Informer(  # only the adopted ones: DeploymentLookup reads others
            self.api,
            DEPLOYMENTS,
            namespace=ns,
            label_selector=MANAGED_BY_LABEL,
            transform=slim_deployment,
            watch_timeout_seconds=timeout,
        )
        self.replica_sets = Informer(
            self.api,
            REPLICA_SETS,
            namespace=ns,
            label_selector=ROLLOUT_LABEL,
            transform=slim_replica_set,
            indexers={OWNER_INDEX: owner_uids},
            watch_timeout_seconds=timeout,
        )
        self.queue: WorkQueue[ObjectKey] = WorkQueue()
        switches = flag_switches(self.api, settings, on_error=self.metrics.count_provider_error)
        self.actuator = Actuator(self.api, routers(self.api), switches)
        analyst = Analyst(
            default=prometheus_default(settings),
            endpoints=settings.prometheus_endpoints,
            threshold_namespaces=settings.threshold_namespaces,
            secrets=metric_secrets(self.api, settings),
            on_looks=self.metrics.count_looks,
            on_provider_error=self.metrics.count_provider_error,
            on_wait=self.metrics.look_wait.observe,
        )
        self.measurer = Measurer(analyst, on_ready=self.queue.add)
        clock = _utc_now
        events_api = events_client(
            settings,
            configuration,
            fence=self.fence,
            agent=agent,
            on_write=counted,
            on_read=self.metrics.count_read,
        )
        self.events = EventRecorder(events_api, clock)
        self.reconciler = Reconciler(
            rollouts=self.rollouts,
            deployments=DeploymentLookup(self.deployments, self.api),
            replica_sets=self.replica_sets,
            actuator=self.actuator,
            events=self.events,
            clock=clock,
            measurer=self.measurer,
        )
        self._workers: list[threading.Thread] = []
        self.busy_since: dict[str, float] = {}
        """Per worker thread, when its reconcile in progress started."""
        self._wire_handlers()

    def _wire_handlers(self) -> None:
        def rollout_changed(obj: KubeObject, *_: KubeObject) -> None:
            self.queue.add(key_of(obj))

        def deployment_changed(obj: KubeObject, *rest: KubeObject) -> None:
            new = rest[0] if rest else obj
            key = key_of(new)
            workload = f"{key.namespace}/{key.name}"
            for rollout in self.rollouts.keys_by_index(WORKLOAD_INDEX, workload):
                self.queue.add(rollout)

        def replica_set_changed(obj: KubeObject, *rest: KubeObject) -> None:
            new = rest[0] if rest else obj
            for ref in new.get("metadata", {}).get("ownerReferences") or []:
                if ref.get("kind") == v1alpha1.KIND and ref.get("controller"):
                    self.queue.add(ObjectKey(key_of(new).namespace, ref["name"]))

        self.rollouts.add_handler(
            Handlers(
                on_add_fn=rollout_changed,
                on_update_fn=rollout_changed,
                on_delete_fn=rollout_changed,
            )
        )
        self.deployments.add_handler(
            Handlers(
                on_add_fn=deployment_changed,
                on_update_fn=deployment_changed,
                on_delete_fn=deployment_changed,
            )
        )
        self.replica_sets.add_handler(
            Handlers(
                on_add_fn=replica_set_changed,
                on_update_fn=replica_set_changed,
                on_delete_fn=replica_set_changed,
            )
        )

    # ------------------------------------------------------------ workers

    def problems(self) -> list[str]:
        """What makes this process unhealthy (``/healthz``): empty when all is well.

        An informer's or the measurements' loop that ended, a worker thread that
        died while this process works, a reconcile running longer than
        ``stuck_after``. (``/readyz`` is :meth:`synced`.)"""
        found = [
            f"informer {informer.resource} is not running"
            for informer in (self.rollouts, self.deployments, self.replica_sets)
            if not informer.alive()
        ]
        if not self.measurer.alive():
            found.append("the measurements' event loop is not running")
        if self._working.is_set():
            found += [f"{t.name} is not running" for t in self._workers if not t.is_alive()]
        now = time.monotonic()
        for worker, since in list(self.busy_since.items()):
            if now - since > self.settings.stuck_after:
                found.append(f"{worker} has been in one reconcile for {now - since:.0f}s")
        return found

    def leading(self) -> bool:
        """Whether this process leads: holds the Lease (sharded: any shard's), or (without
        election) works."""
        if self.elector is not None:
            return self.elector.holds()
        if self.shards is not None:
            return self.shards.holds_any()
        return self._working.is_set()

    def _observed(self) -> dict[ObjectKey, Observation]:
        """What the per-Rollout series show: sharded, the Rollouts of shards held only."""
        observed = dict(self.reconciler.observed)
        if self.shards is None:
            return observed
        return {k: v for k, v in observed.items() if self.shards.owns(k.namespace, k.name)}

    def _grace(self) -> float:
        return self.settings.lease_duration - self.settings.renew_deadline

    def _shard_gained(self, shard: int) -> None:
        assert self.shards is not None
        for key in self.rollouts.cached_keys():
            if self.shards.shard_of(key.namespace, key.name) == shard:
                self.queue.add(key)

    def synced(self) -> bool:
        return all(i.has_synced() for i in (self.rollouts, self.deployments, self.replica_sets))

    def start_workers(self) -> None:
        self._working.set()
        for index in range(self.settings.workers):
            thread = threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
            thread.start()
            self._workers.append(thread)
        for key in self.rollouts.cached_keys():
            self.queue.add(key)
        log.info("Started workers", workers=self.settings.workers)

    def stop_workers(self, timeout: float) -> None:
        """Stop taking keys; wait (up to ``timeout``) for in-flight reconciles."""
        self._working.clear()
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._workers = [t for t in self._workers if t.is_alive()]
        log.info("Stopped workers", still_running=len(self._workers))

    def _work(self) -> None:
        while self._working.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            if self.shards is not None and not self.shards.owns(key.namespace, key.name):
                self.queue.forget(key)  # another replica's: its holder reconciles it
                self.queue.done(key)
                continue
            started = time.monotonic()
            self.busy_since[threading.current_thread().name] = started
            try:
                if not self._working.is_set():
                    self.queue.add(key)  # leave it for the next leader's turn
                    continue
                scope = (self.shards.reconciling(key.namespace, key.name) if self.shards
                         else contextlib.nullcontext())  # fmt: skip
                with scope:
                    result = self.reconciler.reconcile(key)
            except LeadershipLost as err:
                # Abandoned before its next write; the elector ends the process (sharded:
                # the shard is lost; the key is kept in case it is held again).
                log.error("Abandoned reconcile", namespace=key.namespace, rollout=key.name,
                          reason=str(err))  # fmt: skip
                if self.shards is None:
                    self._working.clear()
                else:
                    self.queue.add_rate_limited(key)
                continue
            except Exception as err:
                log.exception("Reconcile raised", namespace=key.namespace, rollout=key.name,
                              error=describe(err))  # fmt: skip
                self.metrics.errors.inc()
                self.queue.add_rate_limited(key)
                continue
            finally:
                self.busy_since.pop(threading.current_thread().name, None)
                self.metrics.duration.observe(time.monotonic() - started)
                self.queue.done(key)
            if result.retry:
                self.metrics.reconciles.labels("retry").inc()
                self.queue.add_rate_limited(key)
                continue
            self.queue.forget(key)
            if result.requeue_after is not None:
                self.metrics.reconciles.labels("requeue").inc()
                self.queue.add_after(key, result.requeue_after + 0.05)
            else:
                self.metrics.reconciles.labels("done").inc()

    # ------------------------------------------------------------ lifecycle

    def lease_usable(self) -> bool:
        """False (and why, logged) when the Lease cannot be used as the cluster is set up;
        True too when the API server could not say (the election retries)."""
        if self.lease is None:
            return True
        try:
            self.lease.check(timeout=self.settings.renew_deadline)
        except LeaseUnusable as err:
            log.error(f"Cannot use the leader-election Lease: {err}", lease=str(self.lease),
                      setting="--lease-namespace or LANDINGGEAR_LEASE_NAMESPACE")  # fmt: skip
            return False
        except Exception as err:
            log.warning("Could not check the leader-election Lease", lease=str(self.lease),
                        error=describe(err))  # fmt: skip
        return True

    def run(self) -> int:
        if not self.lease_usable():
            return EXIT_LEASE_UNUSABLE
        stop = threading.Event()
        elector = self.elector
        budget = self.settings.shutdown_timeout
        reserve = min(1.0, budget / 4)
        """Kept after the workers for releasing the Lease(s), and after that for the rest."""
        deadline: list[Deadline] = []
        """Set by SIGTERM (or SIGINT): when the process must be gone."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            del frame
            log.info("Received signal; shutting down", signal=signal.Signals(signum).name,
                     within_s=budget)  # fmt: skip
            deadline.append(Deadline.after(budget))
            stop.set()
            if elector is not None:
                elector.stop(by=deadline[0].at - reserve)

        def left(cap: float, keep: float = 0.0) -> float:
            return deadline[0].left(cap, keep=keep) if deadline else cap

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        server = serve(
            self.settings.metrics_address,
            registry=self.metrics.registry,
            ready=self.synced,
            healthy=self.problems,
        )
        self.measurer.start()
        for informer in (self.rollouts, self.deployments, self.replica_sets):
            informer.start()
        grace = self._grace()
        try:
            while not (stop.is_set() or self.synced()):  # a signal ends the wait too
                stop.wait(0.1)
            if stop.is_set():
                return 0
            log.info("Caches synced", rollouts=len(self.rollouts))
            if elector is None:
                self.start_workers()
                if self.shards is None:
                    stop.wait()
                    self.stop_workers(timeout=left(budget, keep=2 * reserve))
                    return 0
                self.shards.run(stop)  # until SIGTERM
                self._working.clear()  # no new key; each shard drains, then is given back
                self.shards.close(timeout=left(grace * 0.8 + reserve, keep=reserve))
                self.stop_workers(timeout=left(1.0, keep=reserve))  # the rest are fenced
                return 0

            def stopped_leading() -> None:
                # Asked to stop, in-flight reconciles may finish (leadership still
                # holds); lost, they are abandoned: the fence refuses their writes.
                self.stop_workers(timeout=left(grace * 0.8, keep=2 * reserve)
                                  if elector.holds() else 0.0)  # fmt: skip

            outcome = elector.run(
                on_started_leading=self.start_workers, on_stopped_leading=stopped_leading
            )
            return 1 if outcome is ElectionOutcome.LOST else 0
        finally:
            ending = deadline[0] if deadline else Deadline.after(budget)
            self._close(ending, server)

    def _close(self, deadline: Deadline, server: WSGIServer) -> None:
        """Stop what runs beside the workers by ``deadline``; a thread still blocked then
        (a request to an API server that never answers) is a daemon, left to the exit."""
        self.queue.shut_down()
        self.events.close(timeout=deadline.left(5.0, keep=0.5))  # fenced, refused at once
        self.measurer.stop(timeout=max(0.1, deadline.left(1.0, keep=0.2) / 2))
        informers = (self.rollouts, self.deployments, self.replica_sets)
        for informer in informers:
            informer.stop(timeout=0)
        for informer in informers:
            informer.stop(timeout=deadline.left(1.0))  # a watch cut off mid-read: no wait
        server.shutdown()
        log.info("Stopped", reconciles_abandoned=len(self.busy_since),
                 on_time=not deadline.passed())  # fmt: skip


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run(settings: Settings) -> int:
    """Run the controller until SIGTERM (0), a lost Lease (1) or an unusable one (3)."""
    return Manager(settings).run()
