"""Given/When/Then helpers for end-to-end scenarios against the real control plane.

A controller runs as a real process (``python -m controller run``) scoped to the
test's namespace (informers and its leader-election Lease), so tests are
isolated from each other and can kill and restart it like any deployment would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from controller.api import v1alpha1
from controller.core.revisions import REVISION_LABEL
from controller.reconcile.actuator import Actuator
from controller.reconcile.events import EventRecorder
from controller.reconcile.reconciler import Reconciler
from controller.traffic import Router
from controller.traffic.replica_ratio import ReplicaRatioRouter
from e2e.podagent.wanted import AGENT_ANNOTATION
from tests.support.accounts import CONTROLLER_ACCOUNT
from tests.support.kube import ClusterUnderTest
from tests.support.waiting import eventually

ROOT = Path(__file__).parents[2]
CRD = ROOT / "manifests" / "crds" / "rollouts.landinggear.dev.yaml"
APP_ANNOTATIONS = {"landinggear.dev/demo-app": "true", "prometheus.io/scrape": "true"}
"""On a pod template: a demo app per pod (the pod agent's), scraped by the cluster's
Prometheus (``e2e/localcluster/monitoring.py``)."""
STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {"duration": "5s"}},
    {"setWeight": 50},
    {"pause": {}},
]


@dataclass
class ControllerProcess:
    """One ``landinggear run`` process and its log file."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    identity: str
    metrics_port: int

    def metrics(self) -> dict[str, float]:
        """The controller's /metrics, as ``name{labels}`` → value."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return values

    def api_writes(self, *, leases: bool = False) -> float:
        """``landinggear_api_writes_total`` summed over verbs and resources; the Lease's
        renewals left out unless ``leases``."""
        return sum(
            value
            for name, value in self.metrics().items()
            if name.startswith("landinggear_api_writes_total{")
            and (leases or "resource=leases," not in name)
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process and wait for its exit. One that outlives ``timeout`` has its
        threads' stacks dumped to its log (SIGUSR1), is killed, and fails the test with
        the log's tail."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            self.kill()
            tail = self.logs()[-12000:]
            raise AssertionError(
                f"controller {self.identity} still ran {timeout} s after "
                f"{signal.Signals(sig).name}; its log ends:\n{tail}"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@dataclass
class Harness:
    """The cluster, the test's namespace, and the controllers started for it."""

    kube: ClusterUnderTest
    namespace: str
    log_dir: Path
    controller_kubeconfig: Path | None = None
    """What controllers authenticate with unless told otherwise: the shipped
    ServiceAccount's (``accounts.shipped_controller_kubeconfig``), else the admin's."""
    controllers: list[ControllerProcess] = field(default_factory=list)

    # ---------------------------------------------------------- controller

    def start_controller(
        self,
        *,
        identity: str = "a",
        failpoints: str = "",
        extra: tuple[str, ...] = (),
        kubeconfig: Path | None = None,
        metric_endpoints: Sequence[str] = (),
        threshold_rules: bool = False,
    ) -> ControllerProcess:
        """A controller process for the test's namespace. ``metric_endpoints``: the
        Prometheus addresses its Rollouts may name (``--prometheus-endpoint``; none by
        default, as shipped); ``threshold_rules``: the namespace may run threshold rules
        on the default Prometheus (``--threshold-namespace``)."""
        env = {**os.environ, "LANDINGGEAR_FAILPOINTS": failpoints}
        for name in ("PROMETHEUS_ENDPOINTS", "THRESHOLD_NAMESPACES"):
            env.pop(f"LANDINGGEAR_{name}", None)
        access = [f"--prometheus-endpoint={url}" for url in metric_endpoints]
        if threshold_rules:
            access.append(f"--threshold-namespace={self.namespace}")
        log_path = self.log_dir / f"controller-{identity}-{len(self.controllers)}.log"
        port = _free_port()
        out = open(log_path, "wb")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller",
                "run",
                f"--kubeconfig={kubeconfig or self.controller_kubeconfig or self.kube.kubeconfig}",
                f"--namespace={self.namespace}",
                f"--lease-namespace={self.namespace}",
                f"--metrics-address=127.0.0.1:{port}",
                f"--identity={identity}",
                *access,
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        controller = ControllerProcess(
            proc=proc, log_path=log_path, identity=identity, metrics_port=port
        )
        self.controllers.append(controller)
        return controller

    def stop_all(self) -> None:
        """Stop every controller still running, all of them even if one overstays."""
        failures: list[AssertionError] = []
        for controller in self.controllers:
            if controller.proc.poll() is None:
                try:
                    controller.stop()
                except AssertionError as err:
                    failures.append(err)
        if failures:
            raise failures[0]

    # ---------------------------------------------------------- given

    def create_app(
        self,
        *,
        name: str = "web",
        replicas: int = 3,
        image: str = "web:v1",
        network: bool = False,
        agent: str | None = None,
        env: dict[str, str] | None = None,
        pod_labels: dict[str, str] | None = None,
    ) -> None:
        """A Deployment and its Service ``name`` (port 80 → 8080), its pods all Ready.

        ``network``: each pod runs a demo app at its IP on 8080 (the local cluster's
        pod agent, or the one named ``agent``), scraped by the cluster's Prometheus;
        its pods are Ready only once the app answers, so only the tests that send
        requests ask for it. ``env``: the container's (the app's behaviour);
        ``pod_labels``: more labels on the pods only."""
        labels = {"app": name}
        pod_meta: dict[str, Any] = {"labels": {**labels, **(pod_labels or {})}}
        container: dict[str, Any] = {"name": name, "image": image}
        if env:
            container["env"] = [{"name": k, "value": v} for k, v in env.items()]
        if network or agent:
            agent_name = {AGENT_ANNOTATION: agent} if agent else {}
            pod_meta["annotations"] = {**APP_ANNOTATIONS, **agent_name}
            container["ports"] = [{"containerPort": 8080}]
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": pod_meta, "spec": {"containers": [container]}},
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        }
        for obj in (deployment, service):
            self.apply(obj)
        eventually(
            lambda: self.ready_endpoints(name) == replicas,
            timeout=60,
            what=f"{replicas} ready endpoints of {name}",
        )

    def create_rollout(
        self,
        *,
        name: str = "web",
        steps: list[dict[str, Any]] | None = None,
        progress_deadline: int = 600,
        canary: dict[str, Any] | None = None,
    ) -> None:
        self.apply(
            {
                "apiVersion": v1alpha1.API_VERSION,
                "kind": v1alpha1.KIND,
                "metadata": {"name": name},
                "spec": {
                    "workloadRef": {"name": name},
                    "strategy": {
                        "canary": {"steps": STEPS if steps is None else steps, **(canary or {})}
                    },
                    "progressDeadlineSeconds": progress_deadline,
                },
            }
        )

    def grant_secret(self, name: str) -> None:
        """What a namespace's owner does so the controller may read Secret ``name``
        (README: Feature flags, Secrets): a Role allowing ``get`` on that Secret
        only, bound to the shipped controller's ServiceAccount."""
        account_namespace, account = CONTROLLER_ACCOUNT
        role = f"landinggear-read-{name}"
        self.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": role},
                "rules": [
                    {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [name],
                     "verbs": ["get"]}
                ],
            }
        )  # fmt: skip
        self.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                "subjects": [
                    {"kind": "ServiceAccount", "name": account, "namespace": account_namespace}
                ],
            }
        )

    def apply(self, obj: dict[str, Any]) -> None:
        self.kube.kubectl(
            "apply", f"--namespace={self.namespace}", "-f", "-", stdin=json.dumps(obj)
        )

    # ---------------------------------------------------------- when

    def set_image(self, image: str, *, name: str = "web") -> None:
        self.kube.kubectl(
            "set", "image", f"deployment/{name}", f"{name}={image}", f"--namespace={self.namespace}"
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "landinggear"),
                f"--kubeconfig={self.kube.kubeconfig}",
                f"--namespace={self.namespace}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"landinggear {' '.join(args)}: {proc.stderr}{proc.stdout}")
        return proc

    # ---------------------------------------------------------- then

    def rollout(self, name: str = "web") -> dict[str, Any]:
        custom = client.CustomObjectsApi(self.kube.api())
        obj: dict[str, Any] = custom.get_namespaced_custom_object(  # type: ignore[assignment]
            v1alpha1.GROUP, v1alpha1.VERSION, self.namespace, v1alpha1.PLURAL, name
        )
        return obj

    def status(self, name: str = "web") -> dict[str, Any]:
        return self.rollout(name).get("status") or {}

    def wait_status(
        self, what: str, timeout: float = 60, name: str = "web", **expected: Any
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status = self.status(name)
            matches = all(status.get(k) == v for k, v in expected.items())
            return status if matches else None

        return eventually(probe, timeout=timeout, what=f"{what} ({expected})")

    def replica_sets(self) -> dict[str, tuple[int, int]]:
        """Our ReplicaSets by revision: (spec replicas, available replicas)."""
        apps = client.AppsV1Api(self.kube.api())
        result: dict[str, tuple[int, int]] = {}
        for rs in apps.list_namespaced_replica_set(self.namespace).items:
            revision = (rs.metadata.labels or {}).get(REVISION_LABEL)
            if revision:
                result[revision] = (rs.spec.replicas or 0, rs.status.available_replicas or 0)
        return result

    def deployment(self, name: str = "web") -> client.V1Deployment:
        return client.AppsV1Api(self.kube.api()).read_namespaced_deployment(name, self.namespace)

    def one_shot_reconciler(
        self, routers: Sequence[Router] = (ReplicaRatioRouter(),)
    ) -> tuple[Reconciler, dict[str, Any]]:
        """A reconciler over a snapshot of the world taken now, for driving one
        reconcile by hand (conflicts, routers that do not verify); and the Rollout
        as snapshotted."""
        api = self.kube.api()
        rollout = self.rollout()
        deployment = api.sanitize_for_serialization(self.deployment())  # type: ignore[no-untyped-call]
        sets = [
            api.sanitize_for_serialization(rs)  # type: ignore[no-untyped-call]
            for rs in client.AppsV1Api(api).list_namespaced_replica_set(self.namespace).items
        ]
        clock = lambda: datetime.now(UTC)  # noqa: E731
        reconciler = Reconciler(
            rollouts=_Snapshot([rollout]),
            deployments=_Snapshot([deployment]),
            replica_sets=_Snapshot(sets),
            actuator=Actuator(api, routers),
            events=EventRecorder(api, clock),
            clock=clock,
        )
        return reconciler, rollout

    def ready_endpoints(self, service: str = "web") -> int:
        discovery = client.DiscoveryV1Api(self.kube.api())
        slices = discovery.list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={service}"
        ).items
        return sum(
            1 for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready
        )


class _Snapshot:
    """An informer's read side over a fixed list of objects."""

    def __init__(self, objs: list[dict[str, Any]]) -> None:
        self.objs = objs

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.objs if o["metadata"]["name"] == name), None)

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        return [
            o
            for o in self.objs
            if any(r["uid"] == value for r in o["metadata"].get("ownerReferences") or [])
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ReadyMonitor:
    """Samples the Service's ready endpoints until stopped; keeps the minimum seen."""

    def __init__(self, harness: Harness, service: str = "web", interval: float = 0.05) -> None:
        self.harness = harness
        self.service = service
        self.interval = interval
        self.minimum: int | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReadyMonitor:
        self._thread.start()
        eventually(lambda: self.samples > 0, timeout=10, what="first endpoint sample")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        api = self.harness.kube.api()
        discovery = client.DiscoveryV1Api(api)
        while not self._stop.is_set():
            slices = discovery.list_namespaced_endpoint_slice(
                self.harness.namespace, label_selector=f"kubernetes.io/service-name={self.service}"
            ).items
            ready = sum(
                1 for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready
            )
            self.minimum = ready if self.minimum is None else min(self.minimum, ready)
            self.samples += 1
            time.sleep(self.interval)
