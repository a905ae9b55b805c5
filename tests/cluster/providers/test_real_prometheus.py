"""The provider, ``counts`` and the app builtins against a real Prometheus scraping real apps.

No Kubernetes: Prometheus runs on loopback with a 1 s scrape interval. The first
tests drive a ``prometheus_client`` exporter started in this process, whose
counters and histogram they set; the last sends requests to a demo app
(``e2e.demoapp``) that the session's Prometheus (``tests/cluster/conftest.py``)
discovers only after the analysis "started". Counts are the raw samples at the
start minus those at now, so they must equal exactly what was served between
the two — never more, as ``increase()``'s extrapolation made them.

The provider is asynchronous; the module keeps one event loop (an
``asyncio.Runner``) for it, so its connections are reused across the tests.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from controller.providers import ErrorKind, ProviderError
from controller.providers.builtin_metrics import app_errors, app_latency
from controller.providers.counters import Counts, MetricTemplate, NoData, counts
from controller.providers.prometheus import PrometheusConfig, PrometheusProvider
from controller.providers.templates import Role, Variables
from e2e.demoapp import AppConfig, serve_in_thread
from e2e.prometheus import Prometheus
from tests.support.waiting import eventually

T = TypeVar("T")
PROMETHEUS = shutil.which("prometheus") or shutil.which("/usr/bin/prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="needs a real Prometheus server: install the Debian package `prometheus`",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class App:
    requests: Counter
    latency: Histogram
    port: int


@dataclass
class Stack:
    app: App
    provider: PrometheusProvider
    log: Path
    runner: asyncio.Runner

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` on the module's event loop, where the provider lives."""
        return self.runner.run(coroutine)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert PROMETHEUS is not None
    registry = CollectorRegistry()
    labels = ["namespace", "revision", "code"]
    app = App(
        requests=Counter("http_requests", "Requests served.", labels, registry=registry),
        latency=Histogram(
            "http_request_duration_seconds",
            "Request latency.",
            ["namespace", "revision"],
            buckets=(0.1, 0.25, 1.0),
            registry=registry,
        ),
        port=free_port(),
    )
    exporter, exporter_thread = start_http_server(app.port, addr="127.0.0.1", registry=registry)
    directory = tmp_path_factory.mktemp("prometheus")
    config = directory / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        f"- {{job_name: app, static_configs: [{{targets: ['127.0.0.1:{app.port}']}}]}}\n"
    )
    port = free_port()
    log = directory / "prometheus.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    runner = asyncio.Runner()
    provider = PrometheusProvider(PrometheusConfig(address=f"http://127.0.0.1:{port}", retries=0))
    stack = Stack(app=app, provider=provider, log=log, runner=runner)
    try:
        eventually(
            lambda: stack.run(provider.query("vector(1)")), timeout=60, what="Prometheus to answer"
        )
        yield stack
    finally:
        runner.run(provider.aclose())
        runner.close()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        exporter.shutdown()
        exporter.server_close()
        exporter_thread.join(timeout=5)


def last_scrape(stack: Stack) -> float | None:
    # timestamp() must see the selector itself: after "== 1" it would return the evaluation time.
    query = 'timestamp(up{job="app"}) and on() (up{job="app"} == 1)'
    samples = stack.run(stack.provider.query(query))
    return samples[0].value if samples else None


def wait_for_scrapes(stack: Stack, count: int) -> float:
    """Wait until ``count`` more scrapes have happened; return the last one's time."""
    seen = last_scrape(stack) or 0.0
    for _ in range(count):

        def newer(than: float = seen) -> float | None:
            latest = last_scrape(stack)
            return latest if latest is not None and latest > than else None

        seen = eventually(newer, timeout=30, what="the next scrape")
    return seen


def observe(app: App, revision: str, *, codes: dict[str, int], latencies: list[float]) -> None:
    for code, times in codes.items():
        for _ in range(times):
            app.requests.labels("shop", revision, code).inc()
    for seconds in latencies:
        app.latency.labels("shop", revision).observe(seconds)


def test_counts_per_revision_match_what_the_app_served(stack: Stack) -> None:
    app, provider = stack.app, stack.provider
    # Series exist before the analysis starts, as they do for a live app, and have
    # served already: that must not be counted.
    observe(app, "aaa", codes={"200": 7, "500": 2}, latencies=[0.05] * 6 + [0.5] * 3)
    observe(app, "bbb", codes={"200": 4}, latencies=[0.05] * 4)
    since = datetime.fromtimestamp(wait_for_scrapes(stack, 2), UTC)

    observe(
        app,
        "aaa",
        codes={"200": 37, "500": 3},
        latencies=[0.05] * 10 + [0.2] * 5 + [0.5] * 4 + [2.0],
    )
    observe(app, "bbb", codes={"200": 25}, latencies=[0.05] * 20)
    now = datetime.fromtimestamp(wait_for_scrapes(stack, 2), UTC)

    def measure(template: MetricTemplate, variables: Variables, role: Role) -> Counts | NoData:
        return stack.run(counts(provider, template, variables, role, since=since, now=now))

    variables = Variables(
        rollout="web", namespace="shop", service="web", canary="aaa", stable="bbb", window="1h"
    )
    errors, log = app_errors(), stack.log.read_text()
    assert measure(errors, variables, Role.CANARY) == Counts(40, 3), log
    # bbb never failed: it has no 5xx series at all, which is zero errors, not "no data".
    assert measure(errors, variables, Role.STABLE) == Counts(25, 0), log

    slower_than_quarter = app_latency(bound_seconds=0.25)
    assert measure(slower_than_quarter, variables, Role.CANARY) == Counts(20, 5)
    assert measure(slower_than_quarter, variables, Role.STABLE) == Counts(20, 0)
    # The Python client writes le="1.0"; the builtin matches it when asked for 1.
    slower_than_second = app_latency(bound_seconds=1)
    assert measure(slower_than_second, variables, Role.CANARY) == Counts(20, 1)

    # A bound that is not a bucket, and a revision that served nothing: no data, not zero.
    not_a_bucket = app_latency(bound_seconds=0.5)
    assert isinstance(measure(not_a_bucket, variables, Role.CANARY), NoData)
    unseen = Variables(
        rollout="web", namespace="shop", service="web", canary="ccc", stable="bbb", window="1h"
    )
    assert isinstance(measure(errors, unseen, Role.CANARY), NoData)


def test_real_server_rejects_a_bad_query_without_retrying(stack: Stack) -> None:
    with pytest.raises(ProviderError) as caught:
        stack.run(stack.provider.query("sum(rate(http_requests_total[5m])"))
    assert caught.value.kind is ErrorKind.BAD_QUERY
    assert caught.value.attempts == 1
    assert "bad_data" in str(caught.value)


def test_long_query_sent_as_form_post_is_answered(stack: Stack) -> None:
    terms = " + ".join(f'count(up{{job="app", instance!="not-{i}"}})' for i in range(120))
    samples = stack.run(stack.provider.query(f"({terms}) / 120"))
    assert [s.value for s in samples] == [1.0]


@dataclass
class Served:
    """What a client saw of the requests it sent to one app, one at a time."""

    started: int = 0
    answered: int = 0
    failed: int = 0

    def send(self, client: httpx.Client, url: str) -> None:
        self.started += 1
        status = client.get(url).status_code
        self.answered += 1
        self.failed += status >= 500


def demo_revision_counts(
    runner: asyncio.Runner, provider: PrometheusProvider, revision: str, since: datetime
) -> Counts | NoData:
    variables = Variables(
        rollout="web", namespace="shop", service="web", canary=revision, stable="x", window="1h"
    )
    errors = app_errors(namespace_label=None)  # the demo app labels code and revision only
    now = datetime.now(UTC)
    return runner.run(counts(provider, errors, variables, Role.CANARY, since=since, now=now))


def test_a_demo_app_appearing_after_the_start_is_counted_exactly(prometheus: Prometheus) -> None:
    """The demo app's series appear after the analysis started: they count from 0.

    While traffic runs, every look counts at most what the app had served (a
    request is counted by the app before its answer leaves, so it has been
    started; what was served is read while no request is in flight); once it
    stops, the counts are exactly what was served.
    """
    revision = f"counts-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC)
    app = serve_in_thread(AppConfig(revision=revision, error_rate=0.3, seed=11))
    source = f"counts-{revision}"
    served = Served()
    stop = threading.Event()
    lock = threading.Lock()

    def traffic() -> None:
        with httpx.Client(trust_env=False, timeout=5) as client:
            while not stop.is_set():
                with lock:
                    served.send(client, app.url + "/")
                time.sleep(0.01)

    runner = asyncio.Runner()
    provider = PrometheusProvider(PrometheusConfig(address=prometheus.url, retries=0))
    sender = threading.Thread(target=traffic, name="counts-traffic", daemon=True)
    try:
        with httpx.Client(trust_env=False, timeout=5) as client:
            for _ in range(60):
                served.send(client, app.url + "/")
        assert 0 < served.failed < 60
        prometheus.set_targets([(app.address, {})], source=source)

        def counted_all() -> Counts | None:
            found = demo_revision_counts(runner, provider, revision, since)
            return found if isinstance(found, Counts) and found.requests == 60 else None

        eventually(counted_all, timeout=60, what="Prometheus to scrape the demo app")
        scraped = prometheus_scrapes(prometheus, app.address)
        eventually(
            lambda: prometheus_scrapes(prometheus, app.address) >= scraped + 2,
            timeout=30,
            what="two more scrapes",
        )
        assert demo_revision_counts(runner, provider, revision, since) == Counts(60, served.failed)

        sender.start()
        for _ in range(8):
            found = demo_revision_counts(runner, provider, revision, since)
            with lock:  # no request is in flight while we read what was served
                started, failed = served.started, served.failed
            assert isinstance(found, Counts)
            assert 60 <= found.requests <= started
            assert found.bad <= failed
            time.sleep(0.4)
        stop.set()
        sender.join(timeout=10)
        scraped = prometheus_scrapes(prometheus, app.address)
        eventually(
            lambda: prometheus_scrapes(prometheus, app.address) >= scraped + 2,
            timeout=30,
            what="two scrapes after the traffic stopped",
        )
        final = demo_revision_counts(runner, provider, revision, since)
        assert final == Counts(served.started, served.failed), prometheus.log_file.read_text()
    finally:
        stop.set()
        prometheus.set_targets([], source=source)
        runner.run(provider.aclose())
        runner.close()
        app.stop()


def prometheus_scrapes(prometheus: Prometheus, address: str) -> float:
    """How many times Prometheus has scraped ``address`` successfully."""
    found = prometheus.query(f'sum_over_time(up{{instance="{address}"}}[10m])')
    return found[0].value if found else 0.0
