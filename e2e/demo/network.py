"""The demo's data plane on the local cluster's real network.

On the local control plane (``localcluster up``) the demo's requests take the
path a user's would: the load generator inside the cluster's network namespace →
the ``web`` Service's ClusterIP → kube-proxy → a Ready pod's IP → that pod's own
demo app. Here:

- a pod agent of the demo's own (:class:`~e2e.podagent.PodAgent` named
  :data:`AGENT`, for the pods annotated with that name: the demo's flags reach its
  apps, the cluster's agent leaves them alone) runs one app per pod;
- with flags, the Unleash server's loopback port is relayed into the namespace
  (:class:`~e2e.netns.crossing.RelayInto`), so an app's Unleash SDK reaches it at
  the URL the host uses;
- :class:`~e2e.dataplane.netload.service.ServiceTraffic` sends the requests.

The cluster's own Prometheus (inside the namespace, ``kubernetes_sd``) scrapes
the pods; the caller reads it at :func:`e2e.localcluster.monitoring.url`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from kubernetes.client import ApiClient

from e2e.dataplane import FlagServer
from e2e.dataplane.netload.service import ServiceTraffic
from e2e.localcluster import cluster, network
from e2e.netns.crossing import RelayInto
from e2e.podagent import PodAgent

__all__ = ["AGENT", "POD_ANNOTATIONS", "NetworkPlane", "local_cluster_of"]

AGENT = "landinggear-demo"
POD_ANNOTATIONS = {
    "landinggear.dev/demo-app": "true",
    "landinggear.dev/demo-app-agent": AGENT,
    "prometheus.io/scrape": "true",
}
"""On the demo's pod template: an app per pod, run by the demo's agent, scraped."""


def local_cluster_of(kubeconfig: str) -> cluster.State | None:
    """The local cluster whose admin kubeconfig this is, if it runs with its network."""
    run_dir = Path(kubeconfig).resolve().parent
    if run_dir.parent != cluster.clusters_root().resolve():
        return None
    state = cluster.State.load(run_dir)
    if state is None or not network.healthy(state):
        return None
    return state


class NetworkPlane:
    """Pod agent, relay and traffic for one namespace on the local cluster's network."""

    def __init__(
        self,
        *,
        state: cluster.State,
        api: ApiClient,
        namespace: str,
        service: str,
        rps: float,
        log_dir: Path,
        flags: FlagServer | None,
    ) -> None:
        self._netns = network.namespace_of(state)
        self._api = api
        self._namespace = namespace
        self._flags = flags
        self._log_dir = log_dir
        # Unix socket paths are at most 107 bytes: a short folder of our own.
        self._short = Path(tempfile.mkdtemp(prefix="lg-demo-", dir="/tmp"))
        self._stack = contextlib.ExitStack()
        self.traffic = ServiceTraffic(
            api=api,
            namespace=namespace,
            service=service,
            netns_name=self._netns,
            control=self._short / "load.sock",
            rps=rps,
            log_file=log_dir / "netload.log",
        )
        self.agent: PodAgent | None = None
        self.pids: list[int] = []

    def start(self) -> NetworkPlane:
        try:
            if self._flags is not None and self._flags.unleash_url:
                port = urlsplit(self._flags.unleash_url).port
                assert port is not None, self._flags.unleash_url
                relay = RelayInto(
                    netns_name=self._netns,
                    port=port,
                    sock_dir=self._short,
                    log_file=self._log_dir / "relay-unleash.log",
                )
                self._stack.enter_context(relay)
                self.pids += relay.pids
            self.agent = PodAgent(
                api=self._api,
                netns_name=self._netns,
                run_dir=self._short / "agent",
                namespaces=[self._namespace],
                flags=self._flags,
                name=AGENT,
            )
            self._stack.enter_context(self.agent)
            self._stack.callback(self._keep_agent_logs)
            self._stack.enter_context(self.traffic)
            if self.traffic.pid is not None:
                self.pids.append(self.traffic.pid)
        except BaseException:
            self.stop()
            raise
        return self

    def _keep_agent_logs(self) -> None:
        """The apps' logs go with the demo's other logs (the short folder is removed)."""
        logs = self._short / "agent" / "logs"
        if logs.is_dir():
            shutil.copytree(logs, self._log_dir / "apps", dirs_exist_ok=True)

    def note_app_pids(self) -> None:
        if self.agent is not None:
            for event in self.agent.events():
                pid = _pid_of(event.detail) if event.kind == "started" else None
                if pid is not None and pid not in self.pids:
                    self.pids.append(pid)

    def stop(self) -> None:
        self.note_app_pids()
        self._stack.close()
        shutil.rmtree(self._short, ignore_errors=True)


def _pid_of(detail: str) -> int | None:
    """The pid in an agent event's detail (``"10.244.0.3:8080 pid 1234"``)."""
    _, sep, pid = detail.rpartition(" pid ")
    return int(pid) if sep and pid.isdigit() else None
