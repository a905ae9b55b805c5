"""The demo app: seeded errors, configured latency, and the metrics Prometheus scrapes.

These run the app in a thread (and once as a process) on loopback; no cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.demoapp import AppConfig, RunningApp, serve_in_thread

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=5) as http:
        yield http


def codes(http: httpx.Client, app: RunningApp, n: int) -> list[int]:
    return [http.get(f"{app.url}/").status_code for _ in range(n)]


def scrape(
    http: httpx.Client, app: RunningApp
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = http.get(f"{app.url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_errors_come_from_a_seeded_generator_at_the_configured_rate(client: httpx.Client) -> None:
    apps = [serve_in_thread(AppConfig(revision="r", error_rate=0.3, seed=5)) for _ in range(2)]
    try:
        first, second = (codes(client, app, 400) for app in apps)
    finally:
        for app in apps:
            app.stop()
    assert first == second
    assert set(first) == {200, 500}
    assert first.count(500) / 400 == pytest.approx(0.3, abs=0.08)


def test_metrics_count_answers_by_code_and_time_them(client: httpx.Client) -> None:
    app = serve_in_thread(AppConfig(revision="slow", error_rate=0.5, latency_ms=60, seed=3))
    try:
        answered = codes(client, app, 12)
        client.get(f"{app.url}/healthz")  # neither counted nor timed
        metrics = scrape(client, app)
    finally:
        app.stop()

    def value(name: str, **labels: str) -> float:
        return metrics[(name, tuple(sorted(labels.items())))]

    for code in (200, 500):
        assert value(
            "http_requests_total", code=str(code), method="GET", revision="slow"
        ) == answered.count(code)
    assert value("http_request_duration_seconds_count", revision="slow") == 12
    assert value("http_request_duration_seconds_bucket", le="0.05", revision="slow") == 0
    assert value("http_request_duration_seconds_bucket", le="0.25", revision="slow") == 12
    assert any(name == "process_cpu_seconds_total" for name, _ in metrics)


def test_a_healthy_app_exposes_a_zero_error_counter_before_any_error(client: httpx.Client) -> None:
    app = serve_in_thread(AppConfig(revision="fine"))
    try:
        assert codes(client, app, 5) == [200] * 5
        metrics = scrape(client, app)
    finally:
        app.stop()
    key = (
        "http_requests_total",
        (("code", "500"), ("method", "GET"), ("revision", "fine")),
    )
    assert metrics[key] == 0


def test_the_command_serves_on_loopback_until_terminated(client: httpx.Client) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "e2e.demoapp", "--port=0", "--revision=cli", "--error-rate=1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        response = client.get(f"{url}/")
        assert (response.status_code, response.headers["X-Revision"]) == (500, "cli")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_command_rejects_an_impossible_error_rate() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "e2e.demoapp", "--port=0", "--revision=x", "--error-rate=2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "error rate" in proc.stderr


def test_with_exit_with_parent_it_ends_when_its_parent_does() -> None:
    app = f"{sys.executable} -m e2e.demoapp --port=0 --revision=orphan --exit-with-parent"
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f"{app} & sleep 1"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert shell.stdout is not None
        url = shell.stdout.readline().strip().removeprefix("listening on ")
        assert httpx.get(f"{url}/healthz", trust_env=False).status_code == 200
        assert shell.wait(timeout=10) == 0
        # The app holds the pipe's write end until it exits: EOF means it is gone.
        assert shell.stdout.read() == ""
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", trust_env=False)
    finally:
        if shell.poll() is None:
            shell.kill()
        shell.wait()
        if shell.stdout is not None:
            shell.stdout.close()


def test_errors_after_seconds_makes_a_late_regression(client: httpx.Client) -> None:
    app = serve_in_thread(AppConfig(revision="late", error_rate=1.0, errors_after_seconds=0.5))
    try:
        early = [client.get(app.url).status_code for _ in range(5)]
        time.sleep(0.6)
        late = [client.get(app.url).status_code for _ in range(5)]
    finally:
        app.stop()
    assert early == [200] * 5
    assert late == [500] * 5
