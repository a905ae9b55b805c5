"""The cluster's Prometheus: inside its network namespace, pods found by kubernetes_sd.

``up`` starts upstream Prometheus (built from its Go module by
:mod:`e2e.prometheus.build`; Debian's package has no kubernetes_sd) as the last
process, inside the namespace, so it scrapes pods at their pod IPs where they
really listen. It discovers them with a ``kubernetes_sd_configs`` pods job
(:func:`e2e.prometheus.config.config_document`): a watch on the API server (reached
at the same ``127.0.0.1`` port inside, through the API relay), so a new pod is a
target as soon as the watch event arrives instead of at a file re-read.

Its HTTP API listens on ``127.0.0.1:9090`` inside and reaches the host through a
relay pair over a Unix socket: :func:`url` (``ports["prometheus"]``) is the
address a controller on the host puts in ``analysis.prometheus.address``. Nothing
outside the namespace ever connects to a pod IP.

It authenticates to the API server with the admin client certificate: a harness
reader of every namespace's pods, like the test process itself.
"""

from __future__ import annotations

from pathlib import Path

from e2e.localcluster import cluster, network, pki
from e2e.prometheus import api, build
from e2e.prometheus.config import DISCOVERY_RELOAD_INTERVAL, KubernetesSD, config_document

__all__ = ["PROCESSES", "PROMETHEUS", "SCRAPE_INTERVAL", "ensure_binary", "healthy", "start", "url"]

PROMETHEUS = "prometheus"
INSIDE_PORT = 9090
"""Prometheus' own port, on loopback inside the namespace (its upstream default)."""
RELAY = ("relay-prometheus-netns", "relay-prometheus-host")
PROCESSES = (PROMETHEUS, *RELAY)
"""What :func:`start` adds to a cluster's recorded processes, in start order."""
SCRAPE_INTERVAL = "1s"
"""Scrape (and rule evaluation) interval: an analysis judging every 2 s sees fresh
samples at each look."""
RETENTION = "1d"


def url(state: cluster.State) -> str:
    """The Prometheus API as reachable from the host (``http://127.0.0.1:<port>``)."""
    port = state.ports.get(PROMETHEUS)
    if port is None:
        raise cluster.ClusterError(f"cluster {state.name!r} runs no Prometheus")
    return f"http://127.0.0.1:{port}"


def healthy(state: cluster.State) -> bool:
    return PROMETHEUS in state.ports and api.is_ready(url(state))


def config(state: cluster.State) -> str:
    """``prometheus.yml``: one pods job through the API server, nothing else."""
    pki_dir = Path(state.run_dir) / "pki"
    return config_document(
        targets_dir=None,
        scrape_interval=SCRAPE_INTERVAL,
        kubernetes=KubernetesSD(
            api_server=state.server,
            ca_file=pki_dir / "ca.crt",
            cert_file=pki_dir / f"{pki.ADMIN.file_stem}.crt",
            key_file=pki_dir / f"{pki.ADMIN.file_stem}.key",
        ),
    )


def ensure_binary() -> Path:
    """Upstream Prometheus, built first if it is not cached (minutes, once per machine)."""
    return build.ensure().prometheus


def start(state: cluster.State, *, timeout: float = 60) -> None:
    """Start Prometheus in the namespace with its relay out, and wait for ``/-/ready``."""
    binary = ensure_binary()
    workdir = Path(state.run_dir) / PROMETHEUS
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    config_file = workdir / "prometheus.yml"
    config_file.write_text(config(state))
    cluster.start_process(
        state,
        PROMETHEUS,
        binary,
        [
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address=127.0.0.1:{INSIDE_PORT}",
            "--log.level=info",
            f"--scrape.discovery-reload-interval={DISCOVERY_RELOAD_INTERVAL}",
        ],
        netns=network.namespace_of(state),
    )
    state.ports[PROMETHEUS] = network.relay_out(state, RELAY, port=INSIDE_PORT)
    state.save()

    def ready() -> bool:
        cluster.check_running(state, PROMETHEUS)
        return api.is_ready(url(state))

    log = Path(state.run_dir) / "logs" / f"{PROMETHEUS}.log"
    cluster.wait_until("Prometheus /-/ready", ready, timeout=timeout, log=log)
