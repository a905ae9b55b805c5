"""Upstream Prometheus built from its Go module (for kubernetes_sd), on loopback only.

promtool of the pinned version accepts the configuration we write, with and
without the pods job; the binary answers PromQL, scrapes file_sd targets, gets the
short discovery reload interval, and is the one a kubernetes_sd Prometheus runs.
Skipped, with the command that builds it, where it is not built.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.demoapp import AppConfig, serve_in_thread
from e2e.localcluster import pki
from e2e.prometheus import Prometheus, build
from e2e.prometheus.config import PODS_JOB_NAME, KubernetesSD, config_document
from e2e.prometheus.server import DISCOVERY_RELOAD_INTERVAL
from tests.support.waiting import eventually

BUILT = build.locate()
pytestmark = pytest.mark.skipif(
    BUILT is None,
    reason=f"upstream Prometheus {build.RELEASE} is not built in {build.bin_dir()}:"
    " run `python -m e2e.prometheus build` (part of `make setup`)",
)


@pytest.fixture
def built() -> build.Built:
    assert BUILT is not None
    return BUILT


@pytest.fixture
def kubernetes(tmp_path: Path) -> KubernetesSD:
    """Client credentials for an API server on a loopback port nobody listens on."""
    pki.generate(tmp_path / "pki")
    return KubernetesSD(
        api_server="https://127.0.0.1:1",
        ca_file=tmp_path / "pki" / "ca.crt",
        cert_file=tmp_path / "pki" / "admin.crt",
        key_file=tmp_path / "pki" / "admin.key",
    )


@pytest.fixture
def upstream(tmp_path: Path, built: build.Built) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path / "prometheus", binary=built.prometheus)
    server.start()
    yield server
    server.stop()


def promtool_check(built: build.Built, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(built.promtool), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("with_files", "with_pods_job"),
    [(True, True), (True, False), (False, True)],
    ids=["both", "file_sd_only", "kubernetes_sd_only"],
)
def test_promtool_accepts_the_configuration(
    tmp_path: Path,
    built: build.Built,
    kubernetes: KubernetesSD,
    with_files: bool,
    with_pods_job: bool,
) -> None:
    """``kubernetes_sd_only`` is the cluster's own Prometheus (``e2e.localcluster.monitoring``)."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        config_document(
            targets_dir=tmp_path / "targets" if with_files else None,
            scrape_interval="1s",
            kubernetes=kubernetes if with_pods_job else None,
        )
    )
    checked = promtool_check(built, config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr


def test_the_built_binary_evaluates_promql_on_loopback(upstream: Prometheus) -> None:
    assert upstream.url.startswith("http://127.0.0.1:")
    (sample,) = upstream.query("vector(1) + 1")
    assert sample.value == 2.0
    info = httpx.get(f"{upstream.url}/api/v1/status/buildinfo", trust_env=False).json()
    assert info["data"]["version"] == build.RELEASE


def test_targets_are_handed_to_the_scrape_loop_every_reload_interval(
    upstream: Prometheus,
) -> None:
    flags = httpx.get(f"{upstream.url}/api/v1/status/flags", trust_env=False).json()["data"]
    assert flags["scrape.discovery-reload-interval"] == DISCOVERY_RELOAD_INTERVAL


def test_a_file_sd_target_is_scraped_by_the_built_binary(upstream: Prometheus) -> None:
    app = serve_in_thread(AppConfig(revision="one"))
    try:
        upstream.set_targets([(app.address, {"revision": "one"})])

        def scraped() -> bool:
            return any(
                t.address == app.address and t.health == "up" for t in upstream.active_targets()
            )

        eventually(scraped, timeout=15, what="the target scraped")
        found = upstream.query(f'http_requests_total{{instance="{app.address}"}}')
        assert {s.labels["revision"] for s in found} == {"one"}
    finally:
        upstream.set_targets([])
        app.stop()


def test_a_kubernetes_sd_prometheus_runs_the_built_binary_with_the_pods_job(
    tmp_path: Path, built: build.Built, kubernetes: KubernetesSD
) -> None:
    server = Prometheus(tmp_path / "prometheus", kubernetes=kubernetes)
    server.start()
    try:
        state = json.loads((server.workdir / "state.json").read_text())
        assert Path(state["binary"]) == built.prometheus
        loaded = httpx.get(f"{server.url}/api/v1/status/config", trust_env=False).json()
        assert f"job_name: {PODS_JOB_NAME}" in loaded["data"]["yaml"]
        assert "kubernetes_sd_configs:" in loaded["data"]["yaml"]
    finally:
        server.stop()
