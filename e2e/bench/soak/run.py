"""One soak run on the local control plane: set up, release under faults, record, judge.

Real parts only: the local API server, etcd and controller manager with kwok
nodes, a real Prometheus scraping one demo app per revision, traffic split by
Ready pods (``e2e.dataplane``) and real controller processes. The soak owns its
namespace (``landinggear-soak-<random>``, a new one each run) and its Prometheus; the
cluster is started if it is not running and left running.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.api import v1alpha1
from e2e.bench.soak.checks import Report, judge, overlapping_writers
from e2e.bench.soak.controllers import Controllers, Tally
from e2e.bench.soak.etcdlog import EtcdLog
from e2e.bench.soak.injector import Injector
from e2e.bench.soak.objects import (
    LEASE_SECONDS,
    PREFIX,
    REPLICAS,
    STEPS,
    api_client,
    controller_writes,
    deployment,
    forget_old_runs,
    hand_back,
    install_crd,
    rollout,
)
from e2e.bench.soak.plan import Plan
from e2e.bench.soak.timeline import ReplicaTimeline
from e2e.dataplane import DataPlane, TrafficGenerator
from e2e.localcluster import accounts, build, cluster, faults
from e2e.localcluster.controlplane import AUDIT_LOG
from e2e.prometheus import Prometheus

__all__ = ["PREFIX", "STEPS", "Outcome", "run"]

ROOT = Path(__file__).resolve().parents[3]


@dataclass(kw_only=True)
class Outcome:
    plan: Plan
    seed: int
    report: Report
    seconds: float
    tally: Tally
    api_restarts: list[float] = field(default_factory=list)
    api_down: list[tuple[float, float]] = field(default_factory=list)
    prometheus_down: float = 0.0
    standby_for: float = 0.0
    sent: int = 0
    dropped: int = 0
    unrouted: int = 0
    etcd_errors: list[str] = field(default_factory=list)
    writers: list[str] = field(default_factory=list)
    """Every controller identity that wrote during the soak."""
    log_dir: Path = Path()


class _Settled:
    """Whether every released Rollout's last stored version is Healthy or Degraded."""

    def __init__(self, log: EtcdLog, names: list[str]) -> None:
        self._log, self._names = log, names

    def pending(self) -> list[str]:
        latest = self._log.latest()
        out = []
        for name in self._names:
            status = latest[name].status if name in latest else {}
            released = any(h.get("action") == "ReleaseStarted" for h in status.get("history") or [])
            if not released or status.get("phase") not in ("Healthy", "Degraded"):
                out.append(name)
        return out

    def adopted(self) -> bool:
        latest = self._log.latest()
        return all(
            name in latest
            and latest[name].status.get("phase") == "Healthy"
            and latest[name].status.get("stableRevision")
            for name in self._names
        )


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"soak: timed out waiting for {what}")
        time.sleep(0.5)


@contextlib.contextmanager
def _closing(*stops: Callable[[], object]) -> Iterator[None]:
    try:
        yield
    finally:
        for stop in stops:
            with contextlib.suppress(Exception):
                stop()


def run(
    plan: Plan,
    *,
    seed: int,
    log_dir: Path,
    progress: Callable[[str], None],
    kubeconfig: Path | None = None,
) -> Outcome:
    """Run the soak ``plan`` on the local cluster of ``kubeconfig`` (default: the local
    cluster, started if needed); raise only if it could not be set up."""
    log_dir.mkdir(parents=True, exist_ok=True)
    state = faults.state_of(kubeconfig) if kubeconfig else cluster.up()
    api = api_client(state.kubeconfig)
    install_crd(state.kubeconfig)
    forget_old_runs(api)
    namespace = f"{PREFIX}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    progress(f"namespace {namespace}")
    # The controllers run as the shipped ServiceAccount: its RBAC, not the admin's.
    as_controller = accounts.controller_kubeconfig(
        build.ensure_binaries().kubectl, Path(state.kubeconfig), log_dir / "controller.kubeconfig",
        lease_namespaces=(namespace,),
    )  # fmt: skip
    names = [r.rollout for r in plan.releases]
    apps, custom = client.AppsV1Api(api), client.CustomObjectsApi(api)
    for name in names:
        apps.create_namespaced_deployment(namespace, cast(Any, deployment(name)))
    etcd = EtcdLog(
        etcd_port=state.ports["etcd"],
        namespace=namespace,
        start_revision=faults.etcd_revision(state) + 1,
    ).start()
    for name in names:
        custom.create_namespaced_custom_object(
            v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL, rollout(name)
        )
    prometheus = Prometheus(log_dir / "prometheus", scrape_interval="1s")
    prometheus.start()
    sent: dict[str, list[float]] = {}
    replicas = ReplicaTimeline()
    plane = DataPlane(
        api=api_client(state.kubeconfig), namespace=namespace, targets=prometheus,
        log_dir=log_dir / "apps", seed=seed, on_list=replicas.observe,
    ).start()  # fmt: skip
    traffic = TrafficGenerator(
        plane.routes,
        rps=plan.shape.rollouts * plan.shape.rps_per_rollout,
        seed=seed,
        max_in_flight=64,
        on_dispatch=lambda revision, at: sent.setdefault(revision, []).append(at),
    ).start()
    controllers = Controllers(
        api=api_client(state.kubeconfig), kubeconfig=str(as_controller), namespace=namespace,
        prometheus_url=prometheus.url, log_dir=log_dir, seed=seed,
    ).start()  # fmt: skip
    outcome = Outcome(plan=plan, seed=seed, report=Report(), seconds=0.0, tally=controllers.tally)
    outcome.log_dir = log_dir
    settled = _Settled(etcd, names)
    with _closing(etcd.stop, prometheus.stop, plane.stop, traffic.stop, controllers.stop):
        _wait("every Rollout adopted", settled.adopted, timeout=180)
        progress(f"{len(names)} Rollouts adopted; releasing under faults")
        injector = Injector(
            state=state,
            api=api,
            namespace=namespace,
            prometheus=prometheus,
            controllers=controllers,
            outcome=outcome,
        )
        timeline: list[tuple[float, str, Callable[[], None]]] = [
            (r.at, f"release {r.rollout} ({r.kind})", injector.release(r)) for r in plan.releases
        ] + [(e.at, str(e.kind), injector.fault(e)) for e in plan.events]
        started, began = time.monotonic(), time.time()
        for at, label, action in sorted(timeline, key=lambda item: item[0]):
            time.sleep(max(0.0, started + at - time.monotonic()))
            progress(f"t={at:6.1f}s {label}")
            injector.at(at, label, action)
        deadline = started + plan.shape.faults_for + plan.shape.settle_timeout
        while time.monotonic() < deadline and not (injector.done() and not settled.pending()):
            time.sleep(0.5)
        # Traffic goes on a while: a request to an aborted revision would show.
        time.sleep(plan.shape.traffic_settle + 2)
        outcome.seconds = time.monotonic() - started
        outcome.sent, outcome.dropped, outcome.unrouted = (
            sum(len(v) for v in sent.values()), traffic.dropped, traffic.unrouted
        )  # fmt: skip
        traffic.stop()
        outcome.etcd_errors = etcd.errors + injector.errors
        judged_until = time.time()  # what follows is the clean-up
        hand_back(api, namespace)
    writes = controller_writes(Path(state.kubeconfig).parent / AUDIT_LOG, namespace, began)
    outcome.writers = sorted({who for _, who in writes})
    with open(log_dir / "rollouts.jsonl", "w") as dump:  # every stored version, to look into
        for v in etcd.versions():
            dump.write(json.dumps({"name": v.name, "revision": v.revision, "seen": v.seen,
                                   "obj": v.obj}) + "\n")  # fmt: skip
    with open(log_dir / "sent.json", "w") as dump:
        json.dump({"sent": sent, "api_down": outcome.api_down, "replicas": replicas.points()}, dump)
    outcome.report = judge(
        kinds={r.rollout: r.kind for r in plan.releases},
        versions=[v for v in etcd.versions() if v.seen < judged_until],
        steps=STEPS,
        sent={k: sorted(v) for k, v in sent.items()},
        api_down=outcome.api_down,
        settle=plan.shape.traffic_settle,
        replicas={k: [p for p in v if p[0] < judged_until] for k, v in replicas.points().items()},
        full=REPLICAS,
    )
    outcome.report.violations += overlapping_writers(
        [w for w in writes if w[0] < judged_until], lease=LEASE_SECONDS
    )
    with contextlib.suppress(ApiException):
        core.delete_namespace(namespace)
    return outcome
