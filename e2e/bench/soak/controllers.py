"""The controller's pods during the soak: real ``landinggear run`` processes, killed at will.

Each pod has an identity (its name) and runs one process at a time. A crashed
process is restarted in place with the same identity, as kubelet restarts a
container in its pod (a Deployment's pod keeps its name, hence its Lease
identity); a replaced pod gets a new identity, so the Lease it held must expire
before anyone else leads. Every process exit not caused by the soak is counted.
"""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client
from kubernetes.client import ApiClient

from controller.settings import Settings

__all__ = ["Controllers"]

ROOT = Path(__file__).resolve().parents[3]
LEASE_NAME = str(Settings.model_fields["lease_name"].default)
RESTART_AFTER = 1.0
"""Seconds before a crashed container runs again (kubelet backs off 10 s and more; shorter
here so the soak spends its time on releases)."""


@dataclass
class _Pod:
    identity: str
    proc: subprocess.Popen[bytes]
    restarts: int = 0
    exited_at: float | None = None
    killed: bool = False


@dataclass
class Tally:
    crashes: int = 0
    replacements: int = 0
    own_exits: int = 0
    """Processes that exited without being killed (e.g. lost leadership), then restarted."""
    exit_codes: list[int] = field(default_factory=list)


class Controllers:
    def __init__(
        self,
        *,
        api: ApiClient,
        kubeconfig: str,
        namespace: str,
        prometheus_url: str,
        log_dir: Path,
        seed: int,
    ) -> None:
        self._api = api
        self._kubeconfig = kubeconfig
        self._namespace = namespace
        self._prometheus_url = prometheus_url
        self._log_dir = log_dir
        self._rng = random.Random(seed)  # noqa: S311 - choosing a victim, not security
        self._names = itertools.count()
        self._pods: dict[str, _Pod] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="controllers", daemon=True)
        self.tally = Tally()

    # -------------------------------------------------------------- pods

    def _spawn(self, identity: str) -> subprocess.Popen[bytes]:
        with open(self._log_dir / f"{identity}.log", "ab") as log:
            return subprocess.Popen(
                [
                    sys.executable, "-m", "controller", "run",
                    f"--kubeconfig={self._kubeconfig}",
                    f"--namespace={self._namespace}",
                    f"--lease-namespace={self._namespace}",
                    "--metrics-address=127.0.0.1:0",
                    f"--prometheus-address={self._prometheus_url}",
                    f"--identity={identity}",
                ],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def add_pod(self) -> str:
        identity = f"controller-{next(self._names)}"
        with self._lock:
            self._pods[identity] = _Pod(identity=identity, proc=self._spawn(identity))
        return identity

    def remove_pod(self, identity: str) -> None:
        """A scale-down: SIGTERM (it releases its Lease), then the pod is gone."""
        with self._lock:
            pod = self._pods.pop(identity)
        pod.proc.send_signal(signal.SIGTERM)
        try:
            pod.proc.wait(30)
        except subprocess.TimeoutExpired:
            pod.proc.kill()
            pod.proc.wait()

    def identities(self) -> list[str]:
        with self._lock:
            return sorted(self._pods)

    def leader(self) -> str | None:
        """The Lease's holder, if the API server answers within 2 s."""
        try:
            lease = client.CoordinationV1Api(self._api).read_namespaced_lease(
                LEASE_NAME, self._namespace, _request_timeout=2
            )
        except Exception:  # the API server may be restarting: no answer
            return None
        return (lease.spec.holder_identity or None) if lease.spec else None

    def kill_leader(self, *, replace: bool) -> str:
        """SIGKILL the leader's process (a random pod's if the leader is unknown)."""
        holder = self.leader()
        with self._lock:
            names = sorted(self._pods)
            identity = holder if holder in self._pods else self._rng.choice(names)
            pod = self._pods[identity]
            pod.killed = True
        pod.proc.kill()
        pod.proc.wait()
        if replace:
            with self._lock:
                del self._pods[identity]
            self.tally.replacements += 1
            self.add_pod()
        else:
            self.tally.crashes += 1
        return identity

    # --------------------------------------------------------- lifecycle

    def start(self) -> Controllers:
        self.add_pod()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        for identity in self.identities():
            self.remove_pod(identity)

    def _supervise(self) -> None:
        while not self._stopping.wait(0.2):
            with self._lock:
                pods = list(self._pods.values())
            now = time.monotonic()
            for pod in pods:
                code = pod.proc.poll()
                if code is None:
                    continue
                if pod.exited_at is None:
                    pod.exited_at = now
                    if not pod.killed:
                        self.tally.own_exits += 1
                        self.tally.exit_codes.append(code)
                if now - pod.exited_at >= RESTART_AFTER:
                    with self._lock:
                        if self._pods.get(pod.identity) is not pod:
                            continue
                        pod.proc = self._spawn(pod.identity)
                        pod.restarts += 1
                        pod.exited_at = None
                        pod.killed = False
