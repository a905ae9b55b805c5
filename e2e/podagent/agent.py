"""The pod agent: one demo app per demo-app pod, on the pod's IP, in the cluster's netns.

It watches pods (one informer per namespace, or one for all) and, level-triggered
every ``tick`` seconds and on every pod event, makes the apps match the pods
(:func:`e2e.podagent.wanted.wanted_apps`):

- a wanted pod without an app gets one: ``python -m e2e.demoapp --host POD_IP``
  run inside the namespace (:func:`e2e.netns.argv_in`), its admin endpoints on
  ``<run_dir>/sockets/<uid>.sock``, its output in ``<run_dir>/logs/<ns>_<pod>.log``;
- once the app answers (its socket appears only after it answered itself on the
  pod IP, and ``/healthz`` on it answers) the pod is annotated
  ``landinggear.dev/serving: "true"``, and kwok's Stage makes it Ready
  (:mod:`e2e.localcluster.stages`);
- an app that exited while its pod is wanted loses the annotation (kwok makes
  the pod not Ready) and is started again;
- an app whose pod is gone or terminating keeps serving for ``drain_seconds``
  (kube-proxy takes about a second to drop the endpoint), then is stopped.

``<run_dir>/apps.json`` lists the running apps for other host processes
(:func:`e2e.podagent.counts.counts_in`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from controller.kube.informer import Handlers, Informer
from controller.kube.objects import KubeObject
from controller.kube.transport import Resource
from e2e import netns
from e2e.dataplane.apps import FlagServer
from e2e.localcluster.stages import SERVING_ANNOTATION
from e2e.podagent.counts import MANIFEST, AppCounts, read_counts
from e2e.podagent.wanted import PodApp, is_serving, wanted_apps

__all__ = ["AgentEvent", "PodAgent"]

log = logging.getLogger(__name__)

PODS = Resource(group="", version="v1", plural="pods")
ROOT = Path(__file__).resolve().parents[2]
"""The repository root, so ``-m e2e.demoapp`` imports whatever the caller's checkout holds."""

_MIN_RESTART_INTERVAL = 1.0
"""Seconds between two starts of one pod's app (a crash loop is not a busy loop)."""

_MAX_SOCKET_PATH = 107
"""A Unix socket path is at most 108 bytes with its terminating NUL."""


@dataclass(frozen=True, kw_only=True)
class AgentEvent:
    """Something the agent did or saw, at wall-clock time ``at`` (for tests and figures)."""

    at: float
    kind: str
    """``started``, ``answering``, ``annotated``, ``exited``, ``draining`` or ``stopped``."""
    pod: str
    detail: str = ""


@dataclass(kw_only=True)
class _Run:
    """One app process the agent started for one pod."""

    app: PodApp
    process: subprocess.Popen[bytes]
    socket: Path
    log_file: Path
    answering: bool = False
    last_patch: float = 0.0
    draining_since: float | None = None
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    exited_at: float | None = None


class PodAgent:
    """Runs the demo apps of demo-app pods; ``start``/``stop`` or use as a context manager."""

    def __init__(
        self,
        *,
        api: ApiClient,
        netns_name: str,
        run_dir: Path,
        namespaces: Sequence[str] = (),
        drain_seconds: float = 2.0,
        tick: float = 0.05,
        python: str = sys.executable,
        flags: FlagServer | None = None,
        name: str = "",
    ) -> None:
        """``namespaces`` empty: pods of every namespace. ``flags``: where apps whose
        pod names a ``FLAG`` evaluate it (an Unleash server, reachable at its URL from
        inside the namespace, or a flagd file); without it such apps ignore their flag.
        ``name``: serve only the pods whose ``landinggear.dev/demo-app-agent``
        annotation names it (empty: the pods without one, the cluster agent's)."""
        self.name = name
        self.flags = flags
        self.netns_name = netns_name
        self.run_dir = run_dir
        self.drain_seconds = drain_seconds
        self._tick = tick
        self._python = python
        self._core = CoreV1Api(api)
        scopes: list[str | None] = [*namespaces] or [None]
        self._informers = [
            Informer(api, PODS, namespace=namespace, watch_timeout_seconds=60)
            for namespace in scopes
        ]
        self._wake = threading.Event()
        for informer in self._informers:
            informer.add_handler(
                Handlers(
                    on_add_fn=lambda obj: self._wake.set(),
                    on_update_fn=lambda old, new: self._wake.set(),
                    on_delete_fn=lambda obj: self._wake.set(),
                )
            )
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._events: list[AgentEvent] = []
        self._problems: set[str] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="podagent", daemon=True)
        socket_example = self._socket_path("00000000-0000-0000-0000-000000000000")
        if len(os.fsencode(socket_example)) > _MAX_SOCKET_PATH:
            raise ValueError(f"run directory {run_dir} is too long for Unix socket paths")

    # -- life cycle --------------------------------------------------------------

    def start(self, *, sync_timeout: float = 30.0) -> PodAgent:
        (self.run_dir / "sockets").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        for informer in self._informers:
            informer.start()
        for informer in self._informers:
            if not informer.wait_for_sync(sync_timeout):
                self.stop()
                raise TimeoutError(f"pods were not listed within {sync_timeout:g}s")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take the serving annotation off every pod it served, stop every app at once
        (no drain) and stop watching."""
        self._stopping.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join()
        for informer in self._informers:
            informer.stop()
        for run in list(self._runs.values()):
            if run.answering:
                try:
                    self._annotate(run.app, serving=False)
                except ApiException as err:
                    log.warning("Could not mark pod %s not serving: %s", run.app.pod, err)
        self._stop_apps(list(self._runs))
        self._write_manifest()

    def __enter__(self) -> PodAgent:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests and the host read ---------------------------------------------

    def events(self) -> list[AgentEvent]:
        with self._lock:
            return list(self._events)

    def apps(self) -> dict[str, PodApp]:
        """The apps running now (draining ones included), by ``namespace/name``."""
        with self._lock:
            return {run.app.pod: run.app for run in self._runs.values()}

    def counts(self) -> dict[str, AppCounts]:
        """What each answering app served, by ``namespace/name``."""
        with self._lock:
            sockets = {run.app.pod: run.socket for run in self._runs.values() if run.answering}
        found = {}
        for pod, path in sockets.items():
            try:
                found[pod] = read_counts(path)
            except (httpx.HTTPError, OSError):
                continue
        return found

    # -- the loop --------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._tick)
            self._wake.clear()
            try:
                self.sync()
            except Exception:
                log.exception("Failed to sync the pods' apps")

    def sync(self) -> None:
        """Make the apps match the pods once (the loop calls it; tests may too)."""
        pods = [pod for informer in self._informers for pod in informer.list()]
        by_uid = {pod["metadata"]["uid"]: pod for pod in pods}
        wanted, problems = wanted_apps(pods, agent=self.name)
        for problem in set(problems) - self._problems:
            log.warning("Skipped a demo-app pod: %s", problem)
        self._problems = set(problems)
        changed = False
        now = time.monotonic()
        drained = []
        for uid, app in wanted.items():
            if uid not in self._runs:
                self._start_app(app)
                changed = True
        for uid, run in list(self._runs.items()):
            if uid not in wanted:
                if self._drained(run, now):
                    drained.append(uid)
                continue
            run.draining_since = None
            pod = by_uid[uid]
            if run.process.poll() is not None:
                changed |= self._restart(run, pod, now)
                continue
            if not run.answering and self._answers(run.socket):
                run.answering = True
                self._record("answering", run.app.pod, f"{run.app.ip}:{run.app.port}")
            # Serving exactly while answering: a pod annotated by an earlier agent
            # loses the annotation until this agent's app answers.
            if run.answering != is_serving(pod) and now - run.last_patch > 1.0:
                run.last_patch = now
                self._annotate(run.app, serving=run.answering)
        if drained:
            self._stop_apps(drained)
        if changed or drained:
            self._write_manifest()

    def _drained(self, run: _Run, now: float) -> bool:
        """Whether the app of a pod no longer wanted has served out its drain."""
        if run.draining_since is None:
            run.draining_since = now
            self._record("draining", run.app.pod)
        return now - run.draining_since >= self.drain_seconds

    def _restart(self, run: _Run, pod: KubeObject, now: float) -> bool:
        """Handle an app that exited while its pod is wanted; True if started again."""
        if run.exited_at is None:
            run.exited_at = now
            code = run.process.poll()
            self._record("exited", run.app.pod, f"exit code {code}")
            log.warning("App of pod %s exited with code %s; restarting it", run.app.pod, code)
            if is_serving(pod):
                self._annotate(run.app, serving=False)
        if now - run.started < _MIN_RESTART_INTERVAL:
            return False  # a crash loop: try again on a later tick
        self._start_app(run.app, restarts=run.restarts + 1)
        return True

    # -- one app -----------------------------------------------------------------------

    def _socket_path(self, uid: str) -> Path:
        return self.run_dir / "sockets" / f"{uid}.sock"

    def _start_app(self, app: PodApp, *, restarts: int = 0) -> None:
        admin = self._socket_path(app.uid)
        admin.unlink(missing_ok=True)
        log_file = self.run_dir / "logs" / f"{app.namespace}_{app.name}.log"
        b = app.behaviour
        argv = [
            self._python,
            "-m",
            "e2e.demoapp",
            f"--host={app.ip}",
            f"--port={app.port}",
            f"--revision={app.revision}",
            f"--pod={app.pod}",
            f"--error-rate={b.error_rate}",
            f"--latency-ms={b.latency_ms}",
            f"--latency-jitter-ms={b.latency_jitter_ms}",
            f"--errors-after-seconds={b.errors_after_seconds}",
            f"--unix-socket={admin}",
            "--exit-with-parent",
        ]
        env = dict(os.environ)
        if b.flag and self.flags is not None:
            argv += [
                f"--flag={b.flag}",
                f"--flag-error-rate={b.flag_error_rate}",
                *self.flags.app_args(),
            ]
            env.update(self.flags.app_env())
        with open(log_file, "ab") as out:
            process = subprocess.Popen(
                netns.argv_in(self.netns_name, argv),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,  # a Ctrl-C reaches the agent only, which stops its apps
            )
        with self._lock:
            self._runs[app.uid] = _Run(
                app=app, process=process, socket=admin, log_file=log_file, restarts=restarts
            )
        self._record("started", app.pod, f"{app.ip}:{app.port} pid {process.pid}")
        log.info("Started app of pod %s on %s:%d", app.pod, app.ip, app.port)

    def _stop_apps(self, uids: list[str], *, timeout: float = 5.0) -> None:
        """TERM all at once, then KILL what still runs after ``timeout``; reap all."""
        with self._lock:
            runs = [self._runs.pop(uid) for uid in uids]
        for run in runs:
            if run.process.poll() is None:
                run.process.terminate()
        deadline = time.monotonic() + timeout
        for run in runs:
            try:
                run.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()
            run.socket.unlink(missing_ok=True)
            self._record("stopped", run.app.pod)
            log.info("Stopped app of pod %s", run.app.pod)

    @staticmethod
    def _answers(path: Path) -> bool:
        """Whether ``GET /healthz`` on the app's admin socket answers 200 (a bare
        request: an HTTP client per check costs more than the check)."""
        if not path.exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(0.5)
                conn.connect(os.fspath(path))
                conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                return conn.recv(64).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
        except OSError:
            return False

    def _annotate(self, app: PodApp, *, serving: bool) -> None:
        body = {"metadata": {"annotations": {SERVING_ANNOTATION: "true" if serving else None}}}
        try:
            self._core.patch_namespaced_pod(app.name, app.namespace, body)
        except ApiException as err:
            if err.status != 404:  # a pod deleted meanwhile needs no annotation
                raise
            return
        self._record("annotated", app.pod, "serving" if serving else "not serving")

    def _record(self, kind: str, pod: str, detail: str = "") -> None:
        with self._lock:
            self._events.append(AgentEvent(at=time.time(), kind=kind, pod=pod, detail=detail))

    def _write_manifest(self) -> None:
        with self._lock:
            entries = [
                {**asdict(run.app), "pod": run.app.pod, "socket": str(run.socket)}
                for run in self._runs.values()
            ]
        path = self.run_dir / MANIFEST
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1))
        tmp.replace(path)
