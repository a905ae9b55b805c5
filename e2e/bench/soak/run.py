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
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api import v1alpha1
from e2e.bench.soak.checks import Report, judge
from e2e.bench.soak.controllers import Controllers, Tally
from e2e.bench.soak.etcdlog import EtcdLog
from e2e.bench.soak.plan import Event, FaultKind, Plan, Release
from e2e.dataplane import DataPlane, TrafficGenerator
from e2e.localcluster import build, cluster, faults
from e2e.prometheus import Prometheus

__all__ = ["PREFIX", "STEPS", "Outcome", "run"]

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "landinggear-soak"
"""Each run has its own namespace, ``landinggear-soak-<random>``."""
REPLICAS = 4
STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "10s"}},
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
]
ANALYSIS: dict[str, Any] = {
    "interval": "2s",
    "guard": {"duration": "40s"},
    "metrics": [
        {"name": "errors", "builtin": "app-errors"},
        {"name": "slow", "builtin": "app-latency", "latencyBoundSeconds": 0.1},
    ],
}
SETTLE = 5.0
"""Seconds after a stored abort within which traffic must have left the revision
(measured here: 0.5-3 s): the data plane's poll (0.2 s), the controller manager
deleting pods, kwok and the drain of requests in flight."""


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
    log_dir: Path = Path()


def _api(kubeconfig: str) -> ApiClient:
    return cast(ApiClient, config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]


def _retrying(what: str, call: Callable[[], object], *, timeout: float = 90) -> None:
    """``call`` until it succeeds: the API server may be restarting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
            return
        except Exception as err:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {err}") from err
            time.sleep(0.5)


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "demo-app:v1"}]},
            },
        },
    }


def _rollout(name: str) -> dict[str, Any]:
    return {
        "apiVersion": v1alpha1.API_VERSION,
        "kind": v1alpha1.KIND,
        "metadata": {"name": name},
        "spec": {
            "workloadRef": {"name": name},
            "progressDeadlineSeconds": 600,
            "strategy": {"canary": {"steps": STEPS, "analysis": ANALYSIS}},
        },
    }


def _rollouts(api: ApiClient, namespace: str) -> list[dict[str, Any]]:
    listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
        v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL
    )
    return list(cast(dict[str, Any], listed).get("items") or [])


def _forget_old_runs(api: ApiClient) -> None:
    """Delete what an interrupted run left: its namespace, and the hand-back finalizers of
    its Rollouts (no controller is left to hand them back)."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    for ns in core.list_namespace().items:
        name = str(ns.metadata.name if ns.metadata else "")
        if not name.startswith(PREFIX + "-"):
            continue
        for rollout in _rollouts(api, name):
            custom.patch_namespaced_custom_object(
                v1alpha1.GROUP, v1alpha1.VERSION, name, v1alpha1.PLURAL,
                rollout["metadata"]["name"], {"metadata": {"finalizers": None}},
            )  # fmt: skip
        with contextlib.suppress(ApiException):
            core.delete_namespace(name)


def _hand_back(api: ApiClient, namespace: str, timeout: float = 60) -> None:
    """Delete the Rollouts while a controller runs, so it hands the Deployments back."""
    custom = client.CustomObjectsApi(api)
    custom.delete_collection_namespaced_custom_object(
        v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL
    )
    deadline = time.monotonic() + timeout
    while _rollouts(api, namespace) and time.monotonic() < deadline:
        time.sleep(0.5)


def _install_crd(kubeconfig: str) -> None:
    crd = ROOT / "manifests" / "crds" / "rollouts.landinggear.dev.yaml"
    kubectl = build.ensure_binaries().kubectl
    subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "apply", "--server-side",
         "--force-conflicts", "-f", str(crd)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


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


class _Faults:
    """Carries out the plan's events, each in its own thread at its time."""

    def __init__(
        self, *, state: cluster.State, api: ApiClient, namespace: str, prometheus: Prometheus,
        controllers: Controllers, outcome: Outcome,
    ) -> None:  # fmt: skip
        self.state, self.api, self.prometheus = state, api, prometheus
        self.namespace = namespace
        self.controllers, self.outcome = controllers, outcome
        self.threads: list[threading.Thread] = []
        self.errors: list[str] = []
        self._standby: tuple[float, str] | None = None
        self._prometheus_stopped = 0.0

    def at(self, when: float, label: str, action: Callable[[], None]) -> None:
        def run() -> None:
            try:
                action()
            except Exception as err:  # recorded; the soak fails on it
                self.errors.append(f"{label}: {err}")

        thread = threading.Thread(target=run, name=label, daemon=True)
        self.threads.append(thread)
        thread.start()

    def done(self) -> bool:
        return all(not t.is_alive() for t in self.threads)

    def release(self, release: Release) -> Callable[[], None]:
        env = [{"name": k, "value": v} for k, v in release.kind.env().items()]
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}}
        apps = client.AppsV1Api(self.api)
        return lambda: _retrying(
            f"release {release.rollout}",
            lambda: apps.patch_namespaced_deployment(release.rollout, self.namespace, patch),
        )

    def fault(self, event: Event) -> Callable[[], None]:
        kind = event.kind
        if kind in (FaultKind.CRASH, FaultKind.REPLACE):
            replace = kind is FaultKind.REPLACE
            return lambda: self._kill(replace=replace)
        if kind is FaultKind.APISERVER_RESTART:
            return self._restart_apiserver
        if kind is FaultKind.PROMETHEUS_STOP:
            return self._stop_prometheus
        if kind is FaultKind.PROMETHEUS_START:
            return self._start_prometheus
        if kind is FaultKind.STANDBY_START:
            return self._add_standby
        return self._remove_standby

    def _kill(self, *, replace: bool) -> None:
        self.controllers.kill_leader(replace=replace)

    def _restart_apiserver(self) -> None:
        began = time.time()
        took = faults.restart(self.state, "kube-apiserver")
        self.outcome.api_restarts.append(took)
        self.outcome.api_down.append((began, began + took))

    def _stop_prometheus(self) -> None:
        self.prometheus.stop()
        self._prometheus_stopped = time.monotonic()

    def _start_prometheus(self) -> None:
        self.prometheus.start()
        self.outcome.prometheus_down += time.monotonic() - self._prometheus_stopped

    def _add_standby(self) -> None:
        self._standby = (time.monotonic(), self.controllers.add_pod())

    def _remove_standby(self) -> None:
        leader = self.controllers.leader()
        names = self.controllers.identities()
        others = [n for n in names if n != leader]
        if len(names) > 1:
            self.controllers.remove_pod(others[-1])
        if self._standby is not None:
            self.outcome.standby_for += time.monotonic() - self._standby[0]


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
    api = _api(state.kubeconfig)
    _install_crd(state.kubeconfig)
    _forget_old_runs(api)
    namespace = f"{PREFIX}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    progress(f"namespace {namespace}")
    names = [r.rollout for r in plan.releases]
    apps, custom = client.AppsV1Api(api), client.CustomObjectsApi(api)
    for name in names:
        apps.create_namespaced_deployment(namespace, cast(Any, _deployment(name)))
    etcd = EtcdLog(
        etcd_port=state.ports["etcd"],
        namespace=namespace,
        start_revision=faults.etcd_revision(state) + 1,
    ).start()
    for name in names:
        custom.create_namespaced_custom_object(
            v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL, _rollout(name)
        )
    prometheus = Prometheus(log_dir / "prometheus", scrape_interval="1s")
    prometheus.start()
    sent: dict[str, list[float]] = {}
    plane = DataPlane(
        api=_api(state.kubeconfig), namespace=namespace, targets=prometheus,
        log_dir=log_dir / "apps", seed=seed,
    ).start()  # fmt: skip
    traffic = TrafficGenerator(
        plane.routes,
        rps=plan.shape.rollouts * plan.shape.rps_per_rollout,
        seed=seed,
        max_in_flight=64,
        on_dispatch=lambda revision, at: sent.setdefault(revision, []).append(at),
    ).start()
    controllers = Controllers(
        api=_api(state.kubeconfig), kubeconfig=state.kubeconfig, namespace=namespace,
        prometheus_url=prometheus.url, log_dir=log_dir, seed=seed,
    ).start()  # fmt: skip
    outcome = Outcome(plan=plan, seed=seed, report=Report(), seconds=0.0, tally=controllers.tally)
    outcome.log_dir = log_dir
    settled = _Settled(etcd, names)
    with _closing(etcd.stop, prometheus.stop, plane.stop, traffic.stop, controllers.stop):
        _wait("every Rollout adopted", settled.adopted, timeout=180)
        progress(f"{len(names)} Rollouts adopted; releasing under faults")
        injector = _Faults(
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
        started = time.monotonic()
        for at, label, action in sorted(timeline, key=lambda item: item[0]):
            time.sleep(max(0.0, started + at - time.monotonic()))
            progress(f"t={at:6.1f}s {label}")
            injector.at(at, label, action)
        deadline = started + plan.shape.faults_for + plan.shape.settle_timeout
        while time.monotonic() < deadline and not (injector.done() and not settled.pending()):
            time.sleep(0.5)
        time.sleep(SETTLE + 2)  # traffic goes on: a request to an aborted revision would show
        outcome.seconds = time.monotonic() - started
        outcome.sent, outcome.dropped, outcome.unrouted = (
            sum(len(v) for v in sent.values()), traffic.dropped, traffic.unrouted
        )  # fmt: skip
        traffic.stop()
        outcome.etcd_errors = etcd.errors + injector.errors
        judged_until = time.time()  # what follows is the clean-up
        _hand_back(api, namespace)
    with open(log_dir / "rollouts.jsonl", "w") as dump:  # every stored version, to look into
        for v in etcd.versions():
            dump.write(json.dumps({"name": v.name, "revision": v.revision, "seen": v.seen,
                                   "obj": v.obj}) + "\n")  # fmt: skip
    with open(log_dir / "sent.json", "w") as dump:
        json.dump({"sent": sent, "api_down": outcome.api_down}, dump)
    outcome.report = judge(
        kinds={r.rollout: r.kind for r in plan.releases},
        versions=[v for v in etcd.versions() if v.seen < judged_until],
        steps=STEPS,
        sent={k: sorted(v) for k, v in sent.items()},
        api_down=outcome.api_down,
        settle=SETTLE,
    )
    with contextlib.suppress(ApiException):
        core.delete_namespace(namespace)
    return outcome
