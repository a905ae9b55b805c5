"""A tiny HTTP app that stands in for one revision's pods, with Prometheus metrics.

``GET /`` answers 200, or 500 with probability ``error_rate``, after
``latency_ms`` ± ``latency_jitter_ms``; ``GET /metrics`` exposes
``http_requests_total{code,method,revision}``, the
``http_request_duration_seconds{revision}`` histogram and the process's own
metrics; ``GET /healthz`` answers 200 and counts nothing; ``GET /counts`` answers
JSON ``{"revision", "pod", "codes": {"200": n, …}}``, the requests ``/`` answered.
Every answer carries ``X-Revision`` (and ``X-Pod`` when the app stands for one
pod). Every app has its own registry, so several can run in one process (tests),
and its own seedable ``random.Random``.

:func:`make_admin_server` serves the same app's ``/healthz``, ``/metrics`` and
``/counts`` (never ``/``) on a Unix socket: the way the host reads an app that
listens on a pod IP inside the cluster's network namespace.
"""

from __future__ import annotations

import json
import os
import random
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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

__all__ = [
    "BUCKETS",
    "AdminServer",
    "AppConfig",
    "AppServer",
    "RunningApp",
    "make_admin_server",
    "make_server",
    "serve_in_thread",
]

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
    pod: str = ""
    """The pod this app stands for (``namespace/name``), sent back as ``X-Pod``."""

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
        self._codes: dict[str, int] = {}

    def answered(self, code: int) -> None:
        with self._lock:
            self._codes[str(code)] = self._codes.get(str(code), 0) + 1

    def counts(self) -> dict[str, Any]:
        """What ``GET /counts`` answers."""
        with self._lock:
            codes = dict(self._codes)
        return {"revision": self.config.revision, "pod": self.config.pod, "codes": codes}

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


def _handler_class(behaviour: _Behaviour, *, admin: bool = False) -> type[BaseHTTPRequestHandler]:
    """The app's handler; ``admin``: without ``/`` (the Unix-socket side)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a load generator reuses connections
        # Headers and body leave in two writes; with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms) on a kept-alive connection. (No TCP on a
        # Unix socket: setting the option there fails.)
        disable_nagle_algorithm = not admin

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/" and not admin:
                self._answer_root()
            elif path == "/metrics":
                self._send(200, generate_latest(behaviour.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif path == "/counts":
                self._send(200, json.dumps(behaviour.counts()).encode(), "application/json")
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
            behaviour.answered(code)
            behaviour.duration.labels(revision=revision).observe(time.perf_counter() - started)
            self._send(code, body, "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Revision", behaviour.config.revision)
            if behaviour.config.pod:
                self.send_header("X-Pod", behaviour.config.pod)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: one line per request would drown the logs."""

    return Handler


class AppServer(ThreadingHTTPServer):
    """The app's TCP server; ``behaviour`` is shared with its admin server."""

    daemon_threads = True
    allow_reuse_address = True
    behaviour: _Behaviour


class AdminServer(socketserver.ThreadingUnixStreamServer):
    """``/healthz``, ``/metrics`` and ``/counts`` of an :class:`AppServer` on a Unix socket."""

    daemon_threads = True

    def server_close(self) -> None:
        super().server_close()
        Path(str(self.server_address)).unlink(missing_ok=True)


def make_server(
    config: AppConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sleep: Callable[[float], None] = time.sleep,
    flag: Callable[[CollectorRegistry], Callable[[], bool]] | None = None,
) -> AppServer:
    """A bound, not yet serving, threaded HTTP server for ``config``.

    ``flag``, given the app's registry, returns the function that says whether the
    app's feature flag is on (see :mod:`e2e.demoapp.flags`)."""
    behaviour = _Behaviour(config, sleep=sleep)
    if flag is not None:
        behaviour.flag_on = flag(behaviour.registry)
    server = AppServer((host, port), _handler_class(behaviour))
    server.behaviour = behaviour
    return server


def make_admin_server(app: AppServer, path: Path) -> AdminServer:
    """A bound, not yet serving, admin server for ``app`` on the Unix socket ``path``
    (replacing a stale socket file there)."""
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return AdminServer(os.fspath(path), _handler_class(app.behaviour, admin=True))


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
