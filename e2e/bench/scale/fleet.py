"""The scale benchmark's controller processes: one, or R replicas sharing K shards.

Each is ``python -m controller run`` over all namespaces as the shipped
ServiceAccount, its Lease(s) in the run's namespace; its figures are read from
its ``/metrics`` and ``/proc``. A :class:`Fleet` sums them over its processes and
tells, from the shard Leases (read as the admin), which replica holds which shard.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from kubernetes import client
from kubernetes.client import ApiClient

from controller.core.sharding import lease_names
from e2e.bench.scale import figures

__all__ = ["Controller", "Fleet"]

ROOT = Path(__file__).resolve().parents[3]
LEASE = "landinggear-controller"


class Controller:
    """One controller process and its /metrics."""

    def __init__(
        self,
        kubeconfig: Path,
        lease_namespace: str,
        log: Path,
        *,
        identity: str,
        shards: int,
        args: tuple[str, ...] = (),
        root: Path = ROOT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.identity = identity
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "controller", "run", f"--kubeconfig={kubeconfig}",
                 f"--lease-namespace={lease_namespace}", f"--identity={identity}",
                 f"--metrics-address=127.0.0.1:{self.port}", "--log-level=warning",
                 *([f"--shards={shards}"] if shards > 1 else []), *args],
                cwd=root, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )  # fmt: skip

    def metrics(self, name: str) -> list[str]:
        """The samples named ``name``, scraped with ``?name[]=``: a whole page carries
        the per-Rollout series (5.9 MiB and about 0.6 s of the controller's CPU at 10,000),
        and the bench polls several times a second."""
        url = f"http://127.0.0.1:{self.port}/metrics?{urlencode({'name[]': name})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return [line for line in response.read().decode().splitlines() if line[:1] != "#"]

    def value(self, prefix: str) -> float:
        """The sum of the samples whose line starts with ``prefix`` (a sample's name,
        then ``{``, a label or a space)."""
        name = prefix.split("{", 1)[0].strip()
        return sum(float(line.rsplit(" ", 1)[1]) for line in self.metrics(name)
                   if line.startswith(prefix))  # fmt: skip

    def writes_by(self, kind: str = "writes") -> dict[str, float]:
        """``landinggear_api_writes_total`` (``kind="reads"``: ``…_reads_total``) by
        ``verb resource``, Leases aside."""
        found = {}
        prefix = f"landinggear_api_{kind}_total{{"
        for line in self.metrics(prefix[:-1]):
            if line.startswith(prefix) and 'resource="leases"' not in line:
                labels, value = line.rsplit(" ", 1)
                verb = labels.split('verb="')[1].split('"')[0]
                resource = labels.split('resource="')[1].split('"')[0]
                found[f"{verb} {resource}"] = float(value)
        return found

    def leading(self) -> bool:
        try:
            return self.value("landinggear_leader ") == 1.0
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no release of its Leases, no last words."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if not self.alive():
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Fleet:
    """R controller processes over K shards (one process, one Lease, for K = 1)."""

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log_dir: Path,
        *,
        replicas: int,
        shards: int,
        args: tuple[str, ...] = (),
        root: Path = ROOT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.shards = shards
        names = ["scale-bench"] if replicas == 1 else [f"scale-bench-{i}" for i in range(replicas)]
        self.members = [
            Controller(
                kubeconfig,
                namespace,
                log_dir / f"{name}.log",
                identity=name,
                shards=shards,
                args=args,
                root=root,
                env=env,
            )
            for name in names
        ]

    def live(self) -> list[Controller]:
        return [c for c in self.members if c.alive()]

    def value(self, prefix: str) -> float:
        return sum(c.value(prefix) for c in self.live())

    def writes_by(self, kind: str = "writes") -> dict[str, float]:
        total: Counter[str] = Counter()
        for c in self.live():
            total.update(c.writes_by(kind))
        return dict(total)

    def writes(self) -> float:
        return sum(self.writes_by().values())

    def writes_per_process(self) -> dict[str, float]:
        return {c.identity: sum(c.writes_by().values()) for c in self.live()}

    def rss_mib(self) -> float:
        return sum(figures.rss_mib(c.proc.pid) for c in self.live())

    def cpu_seconds(self) -> float:
        return sum(figures.cpu_seconds(c.proc.pid) for c in self.live())

    def holders(self, api: ApiClient) -> dict[int, str]:
        """Shard → its Lease's holder (``""``: none, or no Lease yet)."""
        leases = client.CoordinationV1Api(api).list_namespaced_lease(self.namespace).items
        by_name = {
            str(lease.metadata.name): (lease.spec.holder_identity or "")
            for lease in leases
            if lease.metadata is not None and lease.spec is not None
        }
        return {i: by_name.get(name, "") for i, name in enumerate(lease_names(LEASE, self.shards))}

    def settled(self, api: ApiClient) -> bool:
        """Every process leads (sharded: every shard held, each live replica its floor share)."""
        live = self.live()
        if not all(c.leading() for c in live):
            return False
        if self.shards == 1:
            return True
        counts = Counter(self.holders(api).values())
        floor = self.shards // len(live)
        return "" not in counts and all(counts[c.identity] >= floor for c in live)

    def stop(self) -> None:
        for c in self.members:
            c.stop()
