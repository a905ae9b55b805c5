"""A tiny HTTP app that stands in for one revision's pods, with Prometheus metrics.

``GET /`` answers 200, or 500 with probability ``error_rate``, after
``latency_ms`` ± ``latency_jitter_ms``; ``GET /metrics`` exposes
``http_requests_total{code,method,revision}``, the
``http_request_duration_seconds{revision}`` histogram and the process's own
metrics; ``GET /healthz`` answers 200 and counts nothing. Every app has its own
registry, so several can run in one process (tests), and its own seedable
``random.Random``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

__all__ = ["BUCKETS", "AppConfig", "RunningApp", "make_server", "serve_in_thread"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Histogram buckets in seconds (``+Inf`` is added by the client)."""


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """How one revision behaves; the defaults are a healthy, fast app."""

    revision: str
    error_rate: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    errors_after_seconds: float = 0.0
    """Answer errors (at ``error_rate``) only from this long after the app started."""
    flag_error_rate: float = 0.0
    """While the app's feature flag is on, the share of 500s is this instead (the new
    code path behind the flag fails)."""
    seed: int | None = None

    def __post_init__(self) -> None:
        for name, rate in (
            ("error rate", self.error_rate),
            ("flag error rate", self.flag_error_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} {rate} is not within [0, 1]")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0 or self.errors_after_seconds < 0:
            raise ValueError("latency, jitter and errors-after must not be negative")


class _Behaviour:
    """The app's decisions and metrics, shared by its handler threads."""

    def __init__(
        self,
        config: AppConfig,
        *,
        sleep: Callable[[float], None],
        flag_on: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        self.sleep = sleep
        self.flag_on = flag_on
        self.started = time.monotonic()
        self._random = random.Random(config.seed)  # noqa: S311 - simulation, not security
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by status code.",
            ["code", "method", "revision"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["revision"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        # Both codes exist from the start, so an error ratio is 0, not absent.
        for code in ("200", "500"):
            self.requests.labels(code=code, method="GET", revision=config.revision)
        self.duration.labels(revision=config.revision)

    def draw(self) -> tuple[int, float]:
        """The status code and the delay in seconds for the next request."""
        cfg = self.config
        not_yet = time.monotonic() - self.started < cfg.errors_after_seconds
        rate = (
            cfg.flag_error_rate if self.flag_on is not None and self.flag_on() else cfg.error_rate
        )
        with self._lock:
            failed = self._random.random() < rate and not not_yet
            jitter = self._random.uniform(-cfg.latency_jitter_ms, cfg.latency_jitter_ms)
        return (500 if failed else 200), max(0.0, cfg.latency_ms + jitter) / 1000.0


def _handler_class(behaviour: _Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a load generator reuses connections
        # Headers and body leave in two writes; with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms) on a kept-alive connection.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._answer_root()
            elif path == "/metrics":
                self._send(200, generate_latest(behaviour.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _answer_root(self) -> None:
            started = time.perf_counter()
            code, delay = behaviour.draw()
            if delay:
                behaviour.sleep(delay)
            revision = behaviour.config.revision
            body = f"revision {revision}: {'error' if code >= 500 else 'ok'}\n".encode()
            # Counted before the answer leaves, so a client that saw it finds it counted.
            behaviour.requests.labels(code=str(code), method="GET", revision=revision).inc()
            behaviour.duration.labels(revision=revision).observe(time.perf_counter() - started)
            self._send(code, body, "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Revision", behaviour.config.revision)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: one line per request would drown the logs."""

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(
    config: AppConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sleep: Callable[[float], None] = time.sleep,
    flag: Callable[[CollectorRegistry], Callable[[], bool]] | None = None,
) -> ThreadingHTTPServer:
    """A bound, not yet serving, threaded HTTP server for ``config``.

    ``flag``, given the app's registry, returns the function that says whether the
    app's feature flag is on (see :mod:`e2e.demoapp.flags`)."""
    behaviour = _Behaviour(config, sleep=sleep)
    if flag is not None:
        behaviour.flag_on = flag(behaviour.registry)
    return _Server((host, port), _handler_class(behaviour))


@dataclass(frozen=True, kw_only=True)
class RunningApp:
    """An app serving from a background thread; ``stop`` shuts it down."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def serve_in_thread(config: AppConfig, *, host: str = "127.0.0.1", port: int = 0) -> RunningApp:
    """Start an app on ``host:port`` (a free port by default) in a daemon thread."""
    server = make_server(config, host=host, port=port)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"demoapp-{config.revision}",
        daemon=True,
    )
    thread.start()
    return RunningApp(server=server, thread=thread)
