"""The stand-in for kubelets and Service routing: ReplicaSets in, demo apps and targets out.

Every ``poll_interval`` the data plane lists the namespace's ReplicaSets that
carry ``landinggear.dev/rollout``, then makes the world match: one demo app per
revision with available replicas (restarted if it died), none for the others,
Prometheus file_sd targets for exactly the apps that run, and traffic routes
weighted by Ready replicas for the apps that answer. A failed list keeps the
last state and is retried on the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from kubernetes.client import ApiClient

from controller.core.revisions import ROLLOUT_LABEL
from controller.kube.transport import Resource, request_json
from e2e.dataplane.apps import AppProcess, FlagServer
from e2e.dataplane.desired import Behaviour, DesiredRevision, RevisionKey, desired_revisions
from e2e.dataplane.traffic import Route

__all__ = ["DataPlane", "RunningRevision", "TargetSink"]

log = logging.getLogger(__name__)

REPLICASETS = Resource(group="apps", version="v1", plural="replicasets")


class TargetSink(Protocol):
    """Where scrape targets go: ``e2e.prometheus.Prometheus`` is one."""

    def set_targets(
        self, targets: Sequence[tuple[str, Mapping[str, str]]], *, source: str
    ) -> None: ...


@dataclass(frozen=True, kw_only=True)
class RunningRevision:
    """What the data plane runs for one revision, as last synced."""

    key: RevisionKey
    pid: int
    address: str
    ready: int
    answering: bool


def _slowest_answer(behaviour: Behaviour) -> float:
    return (behaviour.latency_ms + behaviour.latency_jitter_ms) / 1000.0


class DataPlane:
    """Run demo apps for a namespace's rollout ReplicaSets and keep Prometheus targets in sync.

    An app no longer wanted loses its route first and is stopped ``drain``
    seconds (plus its slowest answer) later, so traffic sees no failed request.
    ``on_list`` is called with the time and the ReplicaSets of every sync.
    """

    def __init__(
        self,
        *,
        api: ApiClient,
        namespace: str,
        targets: TargetSink,
        poll_interval: float = 0.2,
        log_dir: Path | None = None,
        seed: int | None = None,
        drain: float = 0.25,
        flags: FlagServer | None = None,
        on_list: Callable[[float, list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.namespace = namespace
        self.target_source = f"dataplane-{namespace}"
        """Name of this data plane's targets in the sink (a file_sd file per namespace)."""
        self._api = api
        self._targets = targets
        self._poll_interval = poll_interval
        self._log_dir = log_dir
        self._seed = seed
        self._drain = drain
        self._flags = flags
        self._on_list = on_list
        self._apps: dict[RevisionKey, AppProcess] = {}
        self._desired: dict[RevisionKey, DesiredRevision] = {}
        self._routes: list[tuple[RevisionKey, Route]] = []
        self._written_targets: list[tuple[str, dict[str, str]]] | None = None
        self._reported: set[str] = set()
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dataplane", daemon=True)

    def start(self) -> DataPlane:
        """Sync once (so a broken API shows at once), then keep syncing in a thread."""
        self.sync_once()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop syncing, stop every app and withdraw every target."""
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join()
        with self._sync_lock:
            with self._lock:
                apps, self._apps, self._desired, self._routes = self._apps, {}, {}, []
            for key, app in sorted(apps.items()):
                app.stop()
                log.info("Stopped demo app of revision %s (pid %d)", key.revision, app.pid)
            self._write_targets([])

    def __enter__(self) -> DataPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def routes(self, rollout: str | None = None) -> list[Route]:
        """Traffic routes to apps that answered, weighted by their ReplicaSets' Ready pods.

        Read from the last sync, so it is cheap enough to call for every request.
        """
        with self._lock:
            return [route for key, route in self._routes if rollout in (None, key.rollout)]

    def running(self) -> dict[RevisionKey, RunningRevision]:
        """The apps that run, as of the last sync."""
        with self._lock:
            answering = {key for key, _ in self._routes}
            return {
                key: RunningRevision(
                    key=key,
                    pid=app.pid,
                    address=app.address,
                    ready=self._desired[key].ready,
                    answering=key in answering,
                )
                for key, app in self._apps.items()
            }

    def _loop(self) -> None:
        failing = 0  # ticks failed in a row: an outage is logged once, and its end
        while not self._stopping.wait(self._poll_interval):
            try:
                self.sync_once()
            except Exception as err:  # keep serving; the next tick retries
                if not failing:
                    log.warning("Failed to sync the data plane of %s: %s", self.namespace, err)
                failing += 1
            else:
                if failing:
                    log.warning("Synced the data plane of %s again after %d failed tries",
                                self.namespace, failing)  # fmt: skip
                failing = 0

    def _list_replicasets(self) -> list[dict[str, Any]]:
        body = request_json(
            self._api,
            "GET",
            REPLICASETS.collection_path(self.namespace),
            query=[("labelSelector", ROLLOUT_LABEL)],
            timeout=5.0,
        )
        items: list[dict[str, Any]] = body.get("items") or []
        return items

    def sync_once(self) -> None:
        """Read the ReplicaSets once and make apps, targets and routes match them."""
        replicasets = self._list_replicasets()
        if self._on_list is not None:  # e.g. the soak's record of what the cluster did
            self._on_list(time.time(), replicasets)
        desired, problems = desired_revisions(replicasets)
        for problem in problems:
            if problem not in self._reported:
                self._reported.add(problem)
                log.warning("Skipped %s", problem)
        with self._sync_lock:
            self._reconcile(desired)

    def _reconcile(self, desired: dict[RevisionKey, DesiredRevision]) -> None:
        with self._lock:
            current = dict(self._apps)
        stale = {
            key: app
            for key, app in current.items()
            if key not in desired
            or desired[key].behaviour != app.behaviour
            or app.exit_code() is not None
        }
        kept = {key: app for key, app in current.items() if key not in stale}
        if stale:  # route away first, as a terminating pod leaves the endpoints before it stops
            self._publish(kept, desired)
            draining = [app.behaviour for app in stale.values() if app.exit_code() is None]
            if draining:  # let requests already on their way be answered
                time.sleep(self._drain + max(_slowest_answer(b) for b in draining))
        for key, app in sorted(stale.items()):
            code = app.exit_code()
            app.stop()
            why = f"exited with {code}" if code is not None else "no longer wanted"
            log.info("Stopped demo app of revision %s (%s, pid %d)", key.revision, why, app.pid)
        started: dict[RevisionKey, AppProcess] = {}
        try:
            for key, want in sorted(desired.items()):
                if key not in kept:
                    started[key] = self._spawn(key, want)
        except BaseException:
            for app in started.values():
                app.stop()
            raise
        self._publish(kept | started, desired)

    def _publish(
        self, apps: dict[RevisionKey, AppProcess], desired: dict[RevisionKey, DesiredRevision]
    ) -> None:
        """Make ``apps`` the running set: routes to those that answer, a target for each."""
        routes = [
            (key, Route(revision=key.revision, address=app.address, weight=desired[key].ready))
            for key, app in sorted(apps.items())
            if app.answering()
        ]
        with self._lock:
            self._apps = apps
            self._desired = desired
            self._routes = routes
        self._write_targets(
            [(app.address, desired[key].target_labels(self.namespace)) for key, app in apps.items()]
        )

    def _spawn(self, key: RevisionKey, want: DesiredRevision) -> AppProcess:
        seed = None if self._seed is None else self._seed ^ zlib.crc32(key.revision.encode())
        log_dir = self._log_dir
        app = AppProcess(
            revision=key.revision,
            behaviour=want.behaviour,
            seed=seed,
            log_file=log_dir / f"{key.rollout}-{key.revision}.log" if log_dir else None,
            flags=self._flags,
        )
        log.info(
            "Started demo app of revision %s of rollout %s on %s (pid %d)",
            key.revision,
            key.rollout,
            app.address,
            app.pid,
        )
        return app

    def _write_targets(self, targets: list[tuple[str, dict[str, str]]]) -> None:
        ordered = sorted(targets)
        if ordered != self._written_targets:
            self._targets.set_targets(ordered, source=self.target_source)
            self._written_targets = ordered
