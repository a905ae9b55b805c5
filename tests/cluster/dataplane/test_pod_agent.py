"""Demo-app pods get a real app on their pod IP, inside the cluster's network namespace.

The pod agent runs the apps; kwok makes a demo-app pod Ready only once its app
answers; a load generator inside the namespace sends requests straight to the
Ready pods' IPs. There is no kube-proxy in the namespace yet: the test plays its
part (targets = Ready, non-terminating pods, applied one second late, as
kube-proxy's rule update lags), so Service/ClusterIP balancing is left to the
integration with ``localcluster up``'s namespace.

The namespace is ``$LG_NETNS`` if that names one, else a throwaway one this module
creates (root needed, as for ``ip netns``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from controller.kube.informer import Handlers, Informer
from controller.kube.objects import KubeObject
from e2e import netns
from e2e.dataplane.netload import NetLoadProcess
from e2e.localcluster.cluster import POD_CIDR, SERVICE_CIDR
from e2e.podagent import PodAgent
from e2e.podagent.agent import PODS
from e2e.podagent.wanted import AGENT_ANNOTATION
from tests.support.kube import ClusterUnderTest
from tests.support.waiting import eventually

AGENT = f"test-{uuid.uuid4().hex[:8]}"
"""This module's own agent (the cluster's, if ``localcluster up`` runs one, leaves
pods that name another agent alone)."""
AGENT_KEY = AGENT_ANNOTATION
DRAIN_SECONDS = 2.0
KUBE_PROXY_LAG = 1.0
"""Seconds between a pod's readiness changing and the load's targets following."""


@pytest.fixture(scope="module")
def pod_netns() -> Iterator[str]:
    given = os.environ.get("LG_NETNS", "")
    if given and netns.exists(given):
        yield given
        return
    name = f"lg-t{uuid.uuid4().hex[:8]}"
    netns.create(name, local_cidrs=[POD_CIDR, SERVICE_CIDR])
    yield name
    netns.delete(name)


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """Short, for Unix socket paths (``tmp_path`` can be too long)."""
    path = Path(tempfile.mkdtemp(prefix="lg-pa-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agent(api: ApiClient, namespace: str, pod_netns: str, run_dir: Path) -> Iterator[PodAgent]:
    with PodAgent(
        api=api,
        netns_name=pod_netns,
        run_dir=run_dir,
        namespaces=[namespace],
        drain_seconds=DRAIN_SECONDS,
        name=AGENT,
    ) as running:
        yield running


def _ready(pod: KubeObject) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass
class PodTimes:
    scheduled: float | None = None
    ip: float | None = None
    """When the pod was first seen with an IP (kwok made it Running)."""
    ready: list[float] = field(default_factory=list)
    """Each time the pod was seen turning Ready."""


class PodWatch:
    """Watches the namespace's pods: when each was seen scheduled and turning Ready, and
    (``KUBE_PROXY_LAG`` late) the IPs of Ready, non-terminating pods, as kube-proxy would."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.times: dict[str, PodTimes] = {}
        self.endpoints: list[str] = []
        self.on_endpoints: list[Any] = []
        self._was_ready: dict[str, bool] = {}
        self._lock = threading.Lock()
        self.informer = Informer(api, PODS, namespace=namespace, watch_timeout_seconds=60)
        self.informer.add_handler(
            Handlers(
                on_add_fn=self._seen,
                on_update_fn=lambda old, new: self._seen(new),
                on_delete_fn=lambda obj: self._changed(),
            )
        )

    def _seen(self, pod: KubeObject) -> None:
        now = time.time()
        name = pod["metadata"]["name"]
        with self._lock:
            times = self.times.setdefault(name, PodTimes())
            if times.scheduled is None and (pod.get("spec") or {}).get("nodeName"):
                times.scheduled = now
            if times.ip is None and (pod.get("status") or {}).get("podIP"):
                times.ip = now
            ready = _ready(pod)
            if ready and not self._was_ready.get(name, False):
                times.ready.append(now)
            self._was_ready[name] = ready
        self._changed()

    def _changed(self) -> None:
        endpoints = sorted(
            f"http://{pod['status']['podIP']}:8080/"
            for pod in self.informer.list()
            if _ready(pod) and not pod["metadata"].get("deletionTimestamp")
        )
        timer = threading.Timer(KUBE_PROXY_LAG, self._apply, args=(endpoints,))
        timer.daemon = True
        timer.start()

    def _apply(self, endpoints: list[str]) -> None:
        with self._lock:
            self.endpoints = endpoints
            callbacks = list(self.on_endpoints)
        for callback in callbacks:
            callback(endpoints)

    def ready_pods(self, *, count: int | None = None) -> list[KubeObject] | None:
        """The Ready pods; None unless there are ``count`` of them (if given)."""
        found = [pod for pod in self.informer.list() if _ready(pod)]
        return found if count is None or len(found) == count else None


@pytest.fixture
def pods(api: ApiClient, namespace: str) -> Iterator[PodWatch]:
    watch = PodWatch(api, namespace)
    watch.informer.start()
    assert watch.informer.wait_for_sync(30)
    yield watch
    watch.informer.stop()


def _deployment(namespace: str, *, replicas: int) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {"landinggear.dev/demo-app": "true", AGENT_KEY: AGENT},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "example.invalid/web",
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "LATENCY_MS", "value": "2"}],
                        }
                    ]
                },
            },
        },
    }


_ANSWERING = re.compile(r"answering on http://(\S+), admin on \S+, at ([0-9.]+)")


def _answering_times(run_dir: Path) -> dict[str, list[float]]:
    """Per pod name, the Unix times its app(s) first answered, from the apps' logs."""
    found: dict[str, list[float]] = {}
    for log in (run_dir / "logs").glob("*.log"):
        name = log.stem.split("_", 1)[1]
        found[name] = [float(m.group(2)) for m in _ANSWERING.finditer(log.read_text())]
    return found


def _figures(pods: PodWatch, agent: PodAgent, run_dir: Path) -> str:
    answering = _answering_times(run_dir)
    annotated = {
        e.pod.split("/", 1)[1]: e.at
        for e in reversed(agent.events())
        if e.kind == "annotated" and e.detail == "serving"
    }
    lines = []
    for name, times in sorted(pods.times.items()):
        if None in (times.scheduled, times.ip) or not times.ready or not answering.get(name):
            continue
        assert times.scheduled is not None
        assert times.ip is not None
        lines.append(
            f"{name}: scheduled→IP {times.ip - times.scheduled:.3f}s, "
            f"IP→answering {answering[name][0] - times.ip:.3f}s, "
            f"answering→annotated {annotated[name] - answering[name][0]:.3f}s, "
            f"annotated→Ready seen {times.ready[0] - annotated[name]:.3f}s"
        )
    return "\n".join(lines)


def test_each_demo_app_pod_answers_on_its_ip_and_is_never_ready_before_its_app(
    kube: ClusterUnderTest,
    namespace: str,
    agent: PodAgent,
    pods: PodWatch,
    pod_netns: str,
    run_dir: Path,
) -> None:
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(_deployment(namespace, replicas=3)))
    ready = eventually(lambda: pods.ready_pods(count=3), timeout=30, what="3 Ready pods")
    targets = [f"http://{pod['status']['podIP']}:8080/" for pod in ready]
    with NetLoadProcess(
        netns_name=pod_netns, control=run_dir / "load.sock", rps=150, targets=targets
    ) as load:
        eventually(lambda: load.counts()["sent"] >= 150, timeout=20, what="150 requests")
        load.set_targets([])
        time.sleep(0.3)  # the requests in flight are answered
        counts = load.counts()

    names = {pod["metadata"]["name"] for pod in ready}
    assert set(counts["by_pod"]) == {f"{namespace}/{name}" for name in names}
    assert all(set(entry["codes"]) == {"200"} for entry in counts["by_pod"].values())
    assert (counts["refused"], counts["timeouts"], counts["other_errors"]) == (0, 0, 0)
    # what the host reads through the apps' sockets matches what the load saw
    served = agent.counts()
    for pod, entry in counts["by_pod"].items():
        assert served[pod].codes == entry["codes"]

    answering = _answering_times(run_dir)
    for name in names:
        assert pods.times[name].ready[0] > answering[name][0], f"{name} was Ready before its app"
    print(_figures(pods, agent, run_dir))


def test_scaling_down_drains_the_removed_pods_apps_and_no_request_fails(
    kube: ClusterUnderTest,
    namespace: str,
    agent: PodAgent,
    pods: PodWatch,
    pod_netns: str,
    run_dir: Path,
) -> None:
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(_deployment(namespace, replicas=3)))
    eventually(lambda: len(pods.endpoints) == 3, timeout=30, what="3 endpoints")
    with NetLoadProcess(
        netns_name=pod_netns, control=run_dir / "load.sock", rps=200, targets=pods.endpoints
    ) as load:
        pods.on_endpoints.append(load.set_targets)
        load.set_targets(pods.endpoints)
        eventually(lambda: len(load.counts()["by_pod"]) == 3, timeout=20, what="3 pods answer")
        kube.kubectl("scale", "deployment/web", "--replicas=1", f"--namespace={namespace}")
        stopped = eventually(
            lambda: [e for e in agent.events() if e.kind == "stopped"] or None,
            timeout=30,
            what="apps stopped",
        )
        eventually(
            lambda: len([e for e in agent.events() if e.kind == "stopped"]) == 2,
            timeout=30,
            what="both removed pods' apps stopped",
        )
        time.sleep(1.0)  # keep sending to the pod that stays
        counts = load.counts()

    events = agent.events()
    for stop in [e for e in events if e.kind == "stopped"]:
        drained = next(e for e in events if e.kind == "draining" and e.pod == stop.pod)
        assert stop.at - drained.at >= DRAIN_SECONDS
    assert stopped
    assert len(agent.apps()) == 1
    assert len(list((run_dir / "sockets").glob("*.sock"))) == 1
    assert (counts["refused"], counts["timeouts"], counts["other_errors"]) == (0, 0, 0), counts[
        "recent_errors"
    ]
    assert counts["sent"] == counts["codes"]["200"]


def test_an_app_that_dies_is_restarted_and_its_pod_is_ready_only_once_it_answers_again(
    kube: ClusterUnderTest,
    namespace: str,
    agent: PodAgent,
    pods: PodWatch,
    run_dir: Path,
) -> None:
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(_deployment(namespace, replicas=1)))
    eventually(lambda: pods.ready_pods(count=1), timeout=30, what="a Ready pod")
    started = next(e for e in agent.events() if e.kind == "started")
    pid = int(started.detail.rsplit(" ", 1)[1])
    os.kill(pid, 9)
    eventually(
        lambda: [e for e in agent.events() if e.kind == "answering"][1:],
        timeout=30,
        what="the restarted app answering",
    )
    name = started.pod.split("/", 1)[1]
    eventually(lambda: pods.ready_pods(count=1), timeout=30, what="the pod Ready again")
    answering = _answering_times(run_dir)[name]
    assert len(answering) == 2
    exited = next(e for e in agent.events() if e.kind == "exited")
    # every time the pod turned Ready, an app was answering, started after the last exit
    for turned_ready in pods.times[name].ready:
        latest = max(t for t in answering if t < turned_ready)
        assert turned_ready < exited.at or latest > exited.at


def _pod(namespace: str, name: str, *, demo_app: bool, env: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": (
                {"landinggear.dev/demo-app": "true", AGENT_KEY: AGENT} if demo_app else {}
            ),
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "example.invalid/web",
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                }
            ]
        },
    }


def test_other_pods_are_ready_at_once_and_a_demo_app_pod_without_an_app_never_is(
    kube: ClusterUnderTest, namespace: str, agent: PodAgent, pods: PodWatch
) -> None:
    manifests = [
        _pod(namespace, "plain", demo_app=False, env={}),
        _pod(namespace, "served", demo_app=True, env={}),
        _pod(namespace, "unservable", demo_app=True, env={"ERROR_RATE": "lots"}),
    ]
    for manifest in manifests:
        kube.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    eventually(
        lambda: {"plain", "served"} <= {p["metadata"]["name"] for p in pods.ready_pods() or []},
        timeout=30,
        what="the plain and the served pod Ready",
    )
    time.sleep(1.0)  # the agent has seen the unservable pod many times over by now
    unservable = next(p for p in pods.informer.list() if p["metadata"]["name"] == "unservable")
    assert unservable["status"]["phase"] == "Running"
    assert unservable["status"]["podIP"]
    assert not _ready(unservable)
    assert set(agent.apps()) == {f"{namespace}/served"}
    # kwok gives a plain pod its IP and readiness in one write; a demo-app pod waits
    plain, served = pods.times["plain"], pods.times["served"]
    assert plain.ready[0] == plain.ip
    assert served.ip is not None
    assert served.ready[0] > served.ip
