"""Prometheus metrics and the ``/metrics``, ``/healthz``, ``/readyz`` endpoints.

``/metrics`` is prometheus_client's own WSGI app, so HEAD, ``?name[]=``
filters, OpenMetrics by ``Accept`` and gzip by ``Accept-Encoding`` behave as
in every other Prometheus exporter. Counters are exported with ``_total``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from controller.api.v1alpha1 import Phase
from controller.core.measurements import Measurement
from controller.kube.objects import ObjectKey
from controller.reconcile.reconciler import Observation

__all__ = ["ROLLOUT_FAMILIES", "Metrics", "app", "look_result", "serve"]

#: The families labelled by Rollout, left out by ``per_rollout=False``.
ROLLOUT_FAMILIES = (
    "landinggear_rollout_phase",
    "landinggear_rollout_canary_weight",
    "landinggear_rollout_step",
)


def look_result(measurement: Measurement) -> str:
    """``ok``, ``no_data``, ``error`` or ``invalid``: the label of one analysis look."""
    if measurement.invalid:
        return "invalid"
    if measurement.error:
        return "error"
    if measurement.window is None and measurement.value is None:
        return "no_data"
    return "ok"


class Metrics:
    """Every metric the controller exports, on its own registry.

    ``per_rollout`` False leaves out the series labelled by Rollout (phase,
    weight, step), whose number grows with the Rollouts watched.
    """

    def __init__(
        self,
        *,
        observed: Callable[[], dict[ObjectKey, Observation]],
        queue_depth: Callable[[], int],
        leading: Callable[[], bool],
        per_rollout: bool = True,
        shards_held: Callable[[], int] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.reconciles = Counter(
            "landinggear_reconcile",
            "Reconciles by result (done, requeue, retry).",
            ["result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "landinggear_reconcile_duration_seconds",
            "Time to reconcile one Rollout.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.errors = Counter(
            "landinggear_reconcile_errors",
            "Reconciles that raised an unexpected exception.",
            registry=self.registry,
        )
        self.api_writes = Counter(
            "landinggear_api_writes",
            "API write requests sent (Events and the Lease included), by verb and resource.",
            ["verb", "resource"],
            registry=self.registry,
        )
        self.api_reads = Counter(
            "landinggear_api_reads",
            "API read requests sent (get, list, watch; the Lease's included), by verb and "
            "resource; a watch is counted when it is opened.",
            ["verb", "resource"],
            registry=self.registry,
        )
        self.looks = Counter(
            "landinggear_analysis_looks",
            "Analysis looks taken, by result (ok, no_data, error, invalid).",
            ["result"],
            registry=self.registry,
        )
        self.look_wait = Histogram(
            "landinggear_analysis_look_wait_seconds",
            "Time an analysis look waited for its turn at its Prometheus (the controller "
            "asks more than it answers: looks are late).",
            buckets=(0.01, 0.1, 1, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "landinggear_provider_errors",
            "Failed requests to metric and feature-flag providers, by provider and kind.",
            ["provider", "kind"],
            registry=self.registry,
        )
        leader = Gauge(
            "landinggear_leader",
            "1 while this process leads (holds the Lease, or runs without election).",
            registry=self.registry,
        )
        leader.set_function(lambda: 1.0 if leading() else 0.0)
        if shards_held is not None:
            held = Gauge(
                "landinggear_shards_held",
                "Shards this process holds (run --shards K above 1).",
                registry=self.registry,
            )
            held.set_function(lambda: float(shards_held()))
        depth = Gauge(
            "landinggear_workqueue_depth", "Keys waiting to reconcile.", registry=self.registry
        )
        depth.set_function(lambda: float(queue_depth()))
        if per_rollout:
            # A collector of its own: a scrape filtered to other families
            # (``?name[]=``) never reads the Rollouts' state, which at 10,000 Rollouts
            # takes 0.2 s to gather and more to render (python -m e2e.bench.scrape).
            self.registry.register(_RolloutCollector(observed))

    def count_write(self, verb: str, resource: str) -> None:
        """One API write request sent (:class:`controller.kube.WriteCountingApiClient`)."""
        self.api_writes.labels(verb, resource).inc()

    def count_read(self, verb: str, resource: str) -> None:
        """One API read request sent (:class:`controller.kube.WriteCountingApiClient`)."""
        self.api_reads.labels(verb, resource).inc()

    def count_looks(self, measurements: Iterable[Measurement]) -> None:
        """Analysis looks taken."""
        for measurement in measurements:
            self.looks.labels(look_result(measurement)).inc()

    def count_provider_error(self, provider: str, kind: str) -> None:
        """One failed request to a metric or feature-flag provider."""
        self.provider_errors.labels(provider, kind).inc()


class _RolloutCollector(Collector):
    """Per-Rollout phase, weight and step, read from ``observed`` at each scrape."""

    def __init__(self, observed: Callable[[], dict[ObjectKey, Observation]]) -> None:
        self.observed = observed

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families' names without reading the state (so ``?name[]=`` finds them)."""
        for name in ROLLOUT_FAMILIES:
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["namespace", "rollout"]
        phase = GaugeMetricFamily(
            "landinggear_rollout_phase",
            "1 for the Rollout's current phase.",
            labels=[*labels, "phase"],
        )
        weight = GaugeMetricFamily(
            "landinggear_rollout_canary_weight", "Percent of traffic on the canary.", labels=labels
        )
        step = GaugeMetricFamily(
            "landinggear_rollout_step", "Current step index (-1: no canary).", labels=labels
        )
        for key, seen in sorted(self.observed().items()):
            ids = [key.namespace, key.name]
            for candidate in Phase:
                phase.add_metric([*ids, candidate.value], 1.0 if seen.phase == candidate else 0.0)
            weight.add_metric(ids, seen.weight)
            step.add_metric(ids, -1 if seen.step is None else seen.step)
        yield phase
        yield weight
        yield step


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        del format, args


StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def app(
    *, registry: CollectorRegistry, ready: Callable[[], bool], healthy: Callable[[], list[str]]
) -> WsgiApp:
    """The WSGI app: prometheus_client's at ``/metrics``, the probes beside it.

    HEAD answers GET's status and headers (``Content-Length`` included) without the body.
    """
    metrics = make_wsgi_app(registry)

    def text(status: str, body: str) -> tuple[str, list[tuple[str, str]], bytes]:
        return status, [("Content-Type", "text/plain; charset=utf-8")], body.encode()

    def answer(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            said: list[Any] = []
            chunks = metrics(environ, lambda status, headers, *_: said.extend((status, headers)))
            return said[0], list(said[1]), b"".join(chunks)
        if path == "/healthz":
            problems = healthy()
            if problems:
                return text("503 Service Unavailable", "".join(f"{p}\n" for p in problems))
            return text("200 OK", "ok\n")
        if path == "/readyz":
            if ready():
                return text("200 OK", "ok\n")
            return text("503 Service Unavailable", "not ready: the caches have not synced\n")
        return text("404 Not Found", "not found\n")

    def handle(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        head = environ["REQUEST_METHOD"] == "HEAD"
        status, headers, body = answer({**environ, "REQUEST_METHOD": "GET"} if head else environ)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [] if head else [body]

    return handle


def serve(
    address: str,
    *,
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    healthy: Callable[[], list[str]] = list,
) -> WSGIServer:
    """Serve the endpoints on ``host:port`` from a daemon thread; returns the server.

    ``/healthz`` answers 503 with ``healthy()``'s problems (one a line) while it
    has any — a dead informer, a stuck reconcile — so the kubelet restarts the
    process; ``/readyz`` answers 503 until ``ready()``.
    """
    host, _, port = address.rpartition(":")
    server = make_server(
        host or "127.0.0.1",
        int(port),
        app(registry=registry, ready=ready, healthy=healthy),
        server_class=_Server,
        handler_class=_QuietHandler,
    )
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="metrics", daemon=True
    ).start()
    return server
