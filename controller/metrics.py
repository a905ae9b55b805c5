"""Prometheus metrics and the ``/metrics``, ``/healthz``, ``/readyz`` endpoints."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from controller.api.v1alpha1 import Phase
from controller.kube.objects import ObjectKey
from controller.reconcile.reconciler import Observation


class Metrics:
    """Every metric the controller exports, on its own registry."""

    def __init__(
        self,
        *,
        observed: Callable[[], dict[ObjectKey, Observation]],
        queue_depth: Callable[[], int],
        api_writes: Callable[[], int],
    ) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "landinggear_reconcile_total",
            "Reconciles by result (done, requeue, retry, error).",
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
            "landinggear_reconcile_errors_total",
            "Reconciles that raised an unexpected exception.",
            registry=self.registry,
        )
        self.registry.register(_StateCollector(observed, queue_depth, api_writes))


class _StateCollector(Collector):
    """Per-Rollout phase, weight and step, queue depth and API writes, read at scrape time."""

    def __init__(
        self,
        observed: Callable[[], dict[ObjectKey, Observation]],
        queue_depth: Callable[[], int],
        api_writes: Callable[[], int],
    ) -> None:
        self.observed = observed
        self.queue_depth = queue_depth
        self.api_writes = api_writes

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("landinggear_workqueue_depth", "Keys waiting to reconcile.")
        depth.add_metric([], self.queue_depth())
        yield depth
        writes = GaugeMetricFamily("landinggear_api_writes", "API write requests sent since start.")
        writes.add_metric([], self.api_writes())
        yield writes
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


def serve(
    address: str,
    *,
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    healthy: Callable[[], list[str]] = list,
) -> ThreadingHTTPServer:
    """Serve the endpoints on ``host:port`` from a daemon thread; returns the server.

    ``/healthz`` answers 503 with ``healthy()``'s problems (one a line) while it
    has any — a dead informer, a stuck reconcile — so the kubelet restarts the
    process; ``/readyz`` answers 503 until ``ready()``.
    """
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, code, kind = generate_latest(registry), 200, "text/plain; version=0.0.4"
            elif self.path == "/healthz":
                problems = healthy()
                text = "".join(f"{p}\n" for p in problems) if problems else "ok\n"
                body, code, kind = text.encode(), 503 if problems else 200, "text/plain"
            elif self.path == "/readyz":
                ok = ready()
                body, code, kind = (
                    (b"ok\n", 200, "text/plain") if ok else (b"not ready\n", 503, "text/plain")
                )
            else:
                body, code, kind = b"not found\n", 404, "text/plain"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
