"""Carries out the soak plan's events, each in its own thread at its time.

A release patches the Deployment's pod template env (retried while the API
server restarts); a kill SIGKILLs the leader's process; an API server restart,
a Prometheus outage and a second replica are what ``e2e.bench.soak.plan`` says.
Every failure of an event is kept: the soak fails on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubernetes import client
from kubernetes.client import ApiClient

from e2e.bench.soak.controllers import Controllers
from e2e.bench.soak.objects import retrying
from e2e.bench.soak.plan import Event, FaultKind, Release
from e2e.localcluster import cluster, faults
from e2e.prometheus import Prometheus

if TYPE_CHECKING:
    from e2e.bench.soak.run import Outcome

__all__ = ["Injector"]


class Injector:
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
        return lambda: retrying(
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
