"""Client traffic to one Service through the cluster's real network, counted per revision.

``ServiceTraffic`` runs the load generator inside the cluster's network namespace
(:class:`~e2e.dataplane.netload.NetLoadProcess`) against the Service's ClusterIP:
each request is one connection, kube-proxy picks a Ready endpoint for it, and the
pod's demo app answers with its revision (``X-Revision``). It offers what
:class:`~e2e.dataplane.TrafficGenerator` offers (``counts`` per revision,
``unrouted``, ``dropped``, ``running``), so the demo and the tests read either.

The host process reads the ClusterIP from the API (a string) and hands it to the
generator over its Unix control socket; it never dials it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from e2e.dataplane.netload.client import NetLoadProcess
from e2e.dataplane.traffic import RevisionCounts

__all__ = ["ServiceTraffic", "revision_counts"]

log = logging.getLogger(__name__)

FAILURES = ("refused", "timeouts", "other_errors")
"""The load generator's counts of requests that got no answer at all."""


def revision_counts(snapshot: Mapping[str, Any]) -> dict[str, RevisionCounts]:
    """The generator's ``by_revision`` codes as ``RevisionCounts`` (answered requests only:
    a request that got no answer names no revision, see :attr:`ServiceTraffic.failed`)."""
    found: dict[str, RevisionCounts] = {}
    for revision, codes in (snapshot.get("by_revision") or {}).items():
        errors = sum(n for code, n in codes.items() if int(code) >= 500)
        ok = sum(n for code, n in codes.items() if int(code) < 500)
        found[revision] = RevisionCounts(sent=ok + errors, ok=ok, errors=errors)
    return found


class ServiceTraffic:
    """``rps`` requests/s to Service ``namespace/service`` from inside ``netns_name``."""

    def __init__(
        self,
        *,
        api: ApiClient,
        namespace: str,
        service: str,
        netns_name: str,
        control: Path,
        rps: float,
        log_file: Path | None = None,
        poll_interval: float = 0.2,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self.rps = rps
        self._core = CoreV1Api(api)
        self._load = NetLoadProcess(
            netns_name=netns_name, control=control, rps=rps, log_file=log_file
        )
        self._poll_interval = poll_interval
        self._stopping = threading.Event()
        self._aimed = threading.Event()
        self._last: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._finder = threading.Thread(target=self._find_service, name="find-service", daemon=True)

    @property
    def pid(self) -> int | None:
        return self._load.pid

    @property
    def aimed(self) -> bool:
        """Whether the generator has the Service's address (it sends nothing before)."""
        return self._aimed.is_set()

    def start(self) -> ServiceTraffic:
        """Start the generator; it aims at the Service as soon as the Service exists."""
        self._load.start()
        self._finder.start()
        return self

    def _find_service(self) -> None:
        while not self._stopping.is_set():
            try:
                spec = self._core.read_namespaced_service(
                    self.service, self.namespace, _request_timeout=5
                ).spec
            except ApiException as err:
                if err.status != 404:
                    log.warning("Reading Service %s/%s: %s", self.namespace, self.service, err)
            except Exception as err:  # the API server restarting: try again
                log.warning("Reading Service %s/%s: %s", self.namespace, self.service, err)
            else:
                if spec and spec.cluster_ip and spec.cluster_ip != "None" and spec.ports:
                    url = f"http://{spec.cluster_ip}:{spec.ports[0].port}/"
                    self._load.set_targets([url])
                    self._aimed.set()
                    log.info("Traffic aimed at Service %s/%s (%s)", self.namespace,
                             self.service, url)  # fmt: skip
                    return
            self._stopping.wait(self._poll_interval)

    def snapshot(self) -> dict[str, Any]:
        """Every count of the generator (the last one read, if it has just stopped)."""
        if self.running:
            fresh = self._load.counts()
            with self._lock:
                self._last = fresh
        with self._lock:
            return dict(self._last)

    def counts(self) -> dict[str, RevisionCounts]:
        """Requests answered per revision so far."""
        return revision_counts(self.snapshot())

    @property
    def unrouted(self) -> int:
        """Request slots before the Service existed (nowhere to send them)."""
        return int(self.snapshot().get("no_target", 0))

    @property
    def dropped(self) -> int:
        """Request slots skipped because the generator fell behind or every slot was busy."""
        return int(self.snapshot().get("dropped", 0))

    @property
    def failed(self) -> int:
        """Requests that got no answer: refused (no Ready endpoint, or nothing listening),
        timed out, or another connection error."""
        snapshot = self.snapshot()
        return sum(int(snapshot.get(kind, 0)) for kind in FAILURES)

    @property
    def running(self) -> bool:
        return self._load.pid is not None and self._load.poll() is None

    def stop(self) -> None:
        """Stop sending (the requests in flight are answered first) and keep the last counts."""
        self._stopping.set()
        if self._finder.ident is not None:
            self._finder.join()
        if self.running:
            try:
                last = self._load.counts()
            except Exception as err:  # keep what was read before
                log.warning("Last counts of the traffic could not be read: %s", err)
            else:
                with self._lock:
                    self._last = last
        self._load.stop()

    def __enter__(self) -> ServiceTraffic:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
