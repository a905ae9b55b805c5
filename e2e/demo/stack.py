"""Everything the demo runs besides the cluster, started together and stopped together.

``Stack`` starts, in order: a real Unleash server (PostgreSQL and npm's
``unleash-server``, on loopback: the feature flags of the last act; left out with
``flags=False``), the data plane and its traffic, the recorder and the controller
(``python -m controller run``, allowed to reach that Unleash server).

The data plane, on the local cluster (``localcluster up``, the default): its real
network (:mod:`e2e.demo.network`): one demo app per pod on the pod's IP, requests
to the Service's ClusterIP from inside the cluster's network namespace, and the
cluster's own Prometheus there (``kubernetes_sd``), read through its relay. On
another cluster (``--kubeconfig``, kind say), where nothing here can reach the
pods: a real Prometheus on loopback (fresh each run, file_sd), one demo app per
revision with available pods and a traffic generator splitting requests by Ready
pods, all on loopback (:class:`~e2e.dataplane.DataPlane`). An app whose pod names
a ``FLAG`` evaluates it with the Unleash SDK.

Leaving the ``with`` block — normally, on an error or on Ctrl-C — stops
everything in reverse order, each by its own pid; the cluster is left running.

The controller runs in its own process group so a Ctrl-C in the terminal reaches
only the demo, which then stops it with SIGTERM (it releases its Lease and exits).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import cast

from kubernetes import config
from kubernetes.client import ApiClient

from e2e.dataplane import DataPlane, FlagServer, TrafficGenerator
from e2e.dataplane.netload.service import ServiceTraffic
from e2e.demo.network import NetworkPlane, local_cluster_of
from e2e.demo.recorder import Recorder
from e2e.localcluster import cluster, monitoring
from e2e.localcluster.network import namespace_of as network_name
from e2e.prometheus import Prometheus
from e2e.prometheus.api import Endpoint
from e2e.unleash import UnleashServer

__all__ = ["ROOT", "ProcessDied", "Stack"]

ROOT = Path(__file__).resolve().parents[2]
"""The checkout the demo runs from: ``python -m controller`` is started here."""


class ProcessDied(Exception):
    """A process the demo depends on exited early; the message has its log's tail."""


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(f"  | {line}" for line in text.splitlines()[-lines:])


def new_api(kubeconfig: str) -> ApiClient:
    return cast(ApiClient, config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]


class Stack:
    """Prometheus, Unleash, data plane, traffic, recorder and controller for one namespace."""

    def __init__(
        self,
        *,
        kubeconfig: str,
        namespace: str,
        rollout: str,
        log_dir: Path,
        rps: float,
        interval: float = 0.1,
        flags: bool = True,
        data_plane: str = "auto",
    ) -> None:
        """``flags=False`` leaves Unleash out (a story without feature flags).
        ``data_plane``: ``auto``, ``network`` or ``loopback`` (see the module doc)."""
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log_dir = log_dir
        self.controller_log = log_dir / "controller.log"
        self.local: cluster.State | None = (
            None if data_plane == "loopback" else local_cluster_of(kubeconfig)
        )
        """The local cluster with its network, when the demo runs there."""
        if data_plane == "network" and self.local is None:
            raise ProcessDied(
                f"--data-plane network needs the local cluster ({kubeconfig} is not one"
                " with its network running: python -m e2e.localcluster up)"
            )
        self._own_prometheus = (
            None if self.local else Prometheus(log_dir / "prometheus", scrape_interval="1s")
        )
        self.prometheus: Prometheus | Endpoint = self._own_prometheus or Endpoint(
            monitoring.url(self.local) if self.local else ""
        )
        self.unleash = UnleashServer(log_dir / "unleash")
        self._rollout = rollout
        self._rps = rps
        self._interval = interval
        self._flags = flags
        self._stack = contextlib.ExitStack()
        self._controller: subprocess.Popen[bytes] | None = None
        self._plane: DataPlane | None = None
        self._network: NetworkPlane | None = None
        self._traffic: TrafficGenerator | ServiceTraffic | None = None
        self._recorder: Recorder | None = None
        self.pids: list[int] = []
        """Every process started, for the record (the data plane's apps included)."""

    # ------------------------------------------------------------- parts

    @property
    def traffic(self) -> TrafficGenerator | ServiceTraffic:
        assert self._traffic is not None, "the stack is not started"
        return self._traffic

    @property
    def recorder(self) -> Recorder:
        assert self._recorder is not None, "the stack is not started"
        return self._recorder

    # --------------------------------------------------------- lifecycle

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self._own_prometheus is not None:
            shutil.rmtree(self._own_prometheus.workdir, ignore_errors=True)
            self._own_prometheus.start()
            self._stack.callback(self._own_prometheus.stop)
            if self._own_prometheus.pid is not None:
                self.pids.append(self._own_prometheus.pid)

        if self._flags:
            shutil.rmtree(self.unleash.workdir, ignore_errors=True)
            self.unleash.start()
            self._stack.callback(self.unleash.stop)
            self.pids += self.unleash.pids
        flags = (
            FlagServer(unleash_url=self.unleash.url, token=self.unleash.client_token)
            if self._flags
            else None
        )

        plane_api = new_api(self.kubeconfig)
        self._stack.callback(plane_api.close)
        if self.local is not None:
            self._start_network(plane_api, flags, self.local)
        else:
            self._start_loopback_plane(plane_api, flags)

        recorder_api = new_api(self.kubeconfig)
        self._stack.callback(recorder_api.close)
        self._recorder = Recorder(
            api=recorder_api,
            namespace=self.namespace,
            name=self._rollout,
            served=self.traffic.counts,
            period=self._interval,
        ).start()
        self._stack.callback(self._recorder.stop)

        self._start_controller()

    def _start_network(
        self, api: ApiClient, flags: FlagServer | None, local: cluster.State
    ) -> None:
        self._network = NetworkPlane(
            state=local,
            api=api,
            namespace=self.namespace,
            service=self._rollout,
            rps=self._rps,
            log_dir=self.log_dir,
            flags=flags,
        ).start()
        self._stack.callback(self._network.stop)
        self._stack.callback(self._note_app_pids)
        self._traffic = self._network.traffic

    def _start_loopback_plane(self, api: ApiClient, flags: FlagServer | None) -> None:
        assert self._own_prometheus is not None
        self._plane = DataPlane(
            api=api,
            namespace=self.namespace,
            targets=self._own_prometheus,
            log_dir=self.log_dir / "apps",
            flags=flags,
        )
        self._plane.start()
        self._stack.callback(self._plane.stop)
        self._stack.callback(self._note_app_pids)
        plane = self._plane
        self._traffic = TrafficGenerator(lambda: plane.routes(self._rollout), rps=self._rps)
        self._traffic.start()
        self._stack.callback(self._traffic.stop)

    def _note_app_pids(self) -> None:
        """Before the data plane stops: record the pids of the apps it runs."""
        if self._network is not None:
            self._network.note_app_pids()
            running = self._network.pids
        elif self._plane is not None:
            running = [app.pid for app in self._plane.running().values()]
        else:
            running = []
        self.pids += [pid for pid in running if pid not in self.pids]

    def _start_controller(self) -> None:
        with open(self.controller_log, "wb") as log:
            self._controller = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "controller",
                    "run",
                    f"--kubeconfig={self.kubeconfig}",
                    f"--namespace={self.namespace}",
                    f"--lease-namespace={self.namespace}",
                    "--metrics-address=127.0.0.1:0",
                    f"--prometheus-address={self.prometheus.url}",
                    *([f"--flag-endpoint={self.unleash.url}"] if self._flags else []),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,  # a Ctrl-C reaches the demo, which stops it with SIGTERM
            )
        self.pids.append(self._controller.pid)
        self._stack.callback(self._stop_controller)

    def _stop_controller(self) -> None:
        proc = self._controller
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def plane_description(self) -> str:
        """Where the apps, Prometheus and the traffic run, for the demo's headline."""
        if self.local is not None:
            return (
                "One demo app per pod, the cluster's Prometheus and the load, all inside"
                f" the cluster's network namespace ({network_name(self.local)})"
            )
        return "Prometheus, one demo app per revision and the traffic, all on loopback"

    # ------------------------------------------------------------ health

    def check(self) -> None:
        """Raise ``ProcessDied`` if the controller, Prometheus or the traffic stopped."""
        proc = self._controller
        if proc is not None and (code := proc.poll()) is not None:
            raise ProcessDied(
                f"the controller exited with {code}; last lines of {self.controller_log}:\n"
                + _tail(self.controller_log)
            )
        if self._flags and not self.unleash.alive():
            raise ProcessDied(f"Unleash or its PostgreSQL exited; logs in {self.unleash.workdir}")
        own = self._own_prometheus
        if own is not None and not own.alive():
            raise ProcessDied(
                f"Prometheus exited; last lines of {own.log_file}:\n" + _tail(own.log_file)
            )
        if self.local is not None and not monitoring.healthy(self.local):
            raise ProcessDied(
                f"the cluster's Prometheus does not answer; see {self.local.run_dir}/logs"
            )
        if self._traffic is not None and not self._traffic.running:
            raise ProcessDied("the traffic generator stopped")
        self._note_app_pids()
