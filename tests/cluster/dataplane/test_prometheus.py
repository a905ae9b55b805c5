"""A real Prometheus on loopback: start, run-time targets, queries, stop, and its CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from e2e.demoapp import AppConfig, serve_in_thread
from e2e.prometheus import Prometheus
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]


def test_it_listens_on_loopback_and_evaluates_promql(prometheus: Prometheus) -> None:
    assert prometheus.url.startswith("http://127.0.0.1:")
    (sample,) = prometheus.query("vector(1) + 1")
    assert sample.value == 2.0


def test_targets_set_at_run_time_are_scraped_with_their_labels(prometheus: Prometheus) -> None:
    one = serve_in_thread(AppConfig(revision="one"))
    two = serve_in_thread(AppConfig(revision="two"))
    try:
        prometheus.set_targets(
            [(one.address, {"revision": "one"}), (two.address, {"revision": "two"})]
        )

        def both_up() -> bool:
            healthy = {t.address for t in prometheus.active_targets() if t.health == "up"}
            return {one.address, two.address} <= healthy

        eventually(both_up, timeout=15, what="both targets scraped")
        found = prometheus.query(f'http_requests_total{{instance="{one.address}", code="200"}}')
        assert [s.labels["revision"] for s in found] == ["one"]
        assert "exported_revision" not in found[0].labels  # the app's own label is kept
        # Withdrawal through Prometheus is covered by the data plane's scale-to-zero test.

    finally:
        prometheus.set_targets([])
        one.stop()
        two.stop()


def test_stop_ends_the_process_and_removes_nothing_unless_asked(tmp_path: Path) -> None:
    server = Prometheus(tmp_path / "p")
    server.start()
    pid = server.pid
    assert pid is not None
    assert server.stop() is True
    assert not Path(f"/proc/{pid}").exists()
    assert {p.name for p in (tmp_path / "p").iterdir()} >= {"prometheus.yml", "data", "targets"}
    assert server.stop() is False
    server.stop(remove_workdir=True)
    assert not (tmp_path / "p").exists()


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "e2e.prometheus", "--name", "cli-test", *args],
        cwd=ROOT,
        env={**os.environ, "LANDINGGEAR_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_up_prints_the_url_last_status_reports_it_and_down_stops_it(tmp_path: Path) -> None:
    up = run_cli("up", cache=tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        url = up.stdout.strip().splitlines()[-1]
        assert url.startswith("http://127.0.0.1:")
        again = run_cli("up", cache=tmp_path)
        assert again.stdout.strip().splitlines()[-1] == url  # idempotent: the same instance
        status = run_cli("status", cache=tmp_path)
        assert status.returncode == 0
        assert url in status.stdout
    finally:
        down = run_cli("down", cache=tmp_path)
    assert down.stdout.strip() == "stopped"
    after = run_cli("status", cache=tmp_path)
    assert after.returncode == 1
    assert "not running" in after.stdout


def _processes_on(workdir: Path) -> int:
    """Prometheus processes whose TSDB is under ``workdir``."""
    needle = f"--storage.tsdb.path={workdir / 'data'}".encode()
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle in cmdline.read_bytes().split(b"\0"):
                count += 1
        except OSError:
            continue
    return count


def test_start_runs_exactly_one_process_per_data_folder_and_stop_ends_it(tmp_path: Path) -> None:
    # Right after posix_spawn the child still shows our command line until it
    # execs; taking that for "exited" once started three on one folder.
    for index in range(5):
        server = Prometheus(tmp_path / f"p{index}", scrape_interval="1s")
        server.start()
        try:
            assert _processes_on(server.workdir) == 1
        finally:
            server.stop()
        assert _processes_on(server.workdir) == 0
