"""The README's main job, ``python -m e2e.demo``, end to end on the cluster under test.

The demo runs as the user runs it (a process, its own namespace here) with
``--summary-json``; the tests check the story's outcome in the cluster, the
measured figures, and that nothing the demo started outlives it — also when it
is interrupted with Ctrl-C halfway through a release.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.demo.network import local_cluster_of
from e2e.demo.story import delete_namespace
from tests.support.kube import ClusterUnderTest

ROOT = Path(__file__).parents[2]


@pytest.fixture
def demo_namespace(kube: ClusterUnderTest) -> Iterator[str]:
    name = f"lg-demo-{uuid.uuid4().hex[:8]}"
    yield name
    delete_namespace(str(kube.kubeconfig), kube.kubectl_path, name)


def _demo(kube: ClusterUnderTest, namespace: str, log_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "e2e.demo",
        f"--kubeconfig={kube.kubeconfig}",
        f"--namespace={namespace}",
        f"--log-dir={log_dir}",
        *extra,
    ]


def _holders(directory: Path) -> list[str]:
    """Processes (other than this one) with a file under ``directory`` open."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone, or not ours to read
            continue
        if any(link.startswith(str(directory)) for link in links):
            found.append(f"{proc.name}: {cmdline}")
    return found


def _pod_apps(namespace: str) -> list[str]:
    """Demo apps (on the local cluster's network) still serving a pod of ``namespace``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--pod={namespace}/".encode() in b" ".join(argv) and b"e2e.demoapp" in argv:
            found.append(f"{proc.name}: {b' '.join(argv).decode()}")
    return found


def _rollout_status(kube: ClusterUnderTest, namespace: str) -> dict[str, Any]:
    out = kube.kubectl("get", "rollout", "web", "-n", namespace, "-o", "json").stdout
    status: dict[str, Any] = json.loads(out)["status"]
    return status


def test_the_demo_promotes_a_healthy_release_rolls_back_a_bad_one_and_switches_a_flag_off(
    kube: ClusterUnderTest, demo_namespace: str, tmp_path: Path
) -> None:
    log_dir, summary_file = tmp_path / "logs", tmp_path / "summary.json"
    proc = subprocess.run(
        _demo(kube, demo_namespace, log_dir, f"--summary-json={summary_file}"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(proc.stdout)
    assert proc.returncode == 0, f"the demo failed:\n{proc.stderr}\n(logs: {log_dir})"
    assert "== Summary" in proc.stdout
    assert "AnalysisFailed" in proc.stdout  # the evidence is shown

    summary = json.loads(summary_file.read_text())
    healthy, bad = summary["healthy"], summary["bad"]
    # The healthy one walks both 10 s pauses, then is promoted without a verdict against it.
    assert 0 < healthy["to_canary_serving"] < 10
    assert 20 <= healthy["to_promotion"] < 90
    assert all(m["verdict"] != "Fail" for m in healthy["judged"])

    # The bad one is aborted by the analysis, on evidence from real requests.
    assert 0 < bad["to_decision"] < 60
    assert "AnalysisFailed" in bad["message"]
    failed = [m for m in bad["judged"] if m["verdict"] == "Fail"]
    assert [m["name"] for m in failed] == ["errors"]
    assert failed[0]["canary_requests"] > 0
    assert failed[0]["canary_bad"] > 0
    assert failed[0]["evidence"] >= bad["fail_threshold"] == 200
    # Traffic is back on the stable soon after the decision, and stays there.
    assert bad["to_decision"] <= bad["to_scaled_down"] < bad["to_decision"] + 30
    assert 0 < bad["to_traffic_restored"] <= bad["to_scaled_down"] + 2
    assert 0 < bad["served_errors"] < bad["served"]
    # The judge counts exact counter deltas: never more than the revision served.
    for metric in bad["judged"]:
        assert metric["canary_requests"] <= bad["served"]
        assert metric["canary_bad"] <= bad["served_errors"]
        assert metric["canary_requests"] == int(metric["canary_requests"])
    # Every request slot found a Ready pod while the releases ran: no downtime.
    assert summary["requests_sent"] > 0
    assert summary["requests_unrouted"] == 0
    assert summary["requests_failed"] == 0
    if local_cluster_of(str(kube.kubeconfig)) is not None:  # the real network carried them
        assert "ClusterIP → kube-proxy → pod IPs" in summary["network"]

    # The release behind a flag: the flag goes off, the release is kept and promoted.
    flagged = summary["flagged"]
    assert 0 < flagged["flag_on_to_anomaly"] < 60
    assert 0 <= flagged["anomaly_to_flag_off"] < 5
    assert 0 < flagged["flag_off_to_app_sees_off"] < 5  # the SDK polls every second
    assert flagged["errors_with_flag_on"] > 0
    # Back to the baseline: no worse than the stable over the same time, within noise.
    stable_ratio = flagged["stable_errors_after"] / flagged["stable_requests_after"]
    expected = max(stable_ratio, 0.005) * flagged["requests_after"]
    assert flagged["errors_after"] <= expected + 4 * expected**0.5 + 2
    assert "FlagsDisabled" in proc.stdout or "new-checkout" in proc.stdout

    status = _rollout_status(kube, demo_namespace)
    assert status["phase"] == "Healthy"
    assert status["stableRevision"] == flagged["revision"]
    assert status["featureFlags"][0]["state"] == "Off"
    actions = [h["action"] for h in status["history"]]
    assert "FlagsDisabled" in actions
    assert bad["revision"] in [h["revision"] for h in status["history"] if h["action"] == "Aborted"]

    assert summary["processes"], "the demo recorded no process it started"
    alive = [pid for pid in summary["processes"] if Path(f"/proc/{pid}").exists()]
    assert not alive, f"processes the demo started still run: {alive}"
    assert not _holders(log_dir)
    assert not _pod_apps(demo_namespace)


def test_ctrl_c_stops_everything_the_demo_started(
    kube: ClusterUnderTest, demo_namespace: str, tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    proc = subprocess.Popen(
        _demo(kube, demo_namespace, log_dir),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,  # its own group, as a terminal's foreground job
    )
    assert proc.stdout is not None
    seen: list[str] = []
    released = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "kubectl set image" in line:
                released.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert released.wait(120), "the demo never released v2:\n" + "".join(seen)
        time.sleep(3)  # mid-release: controller, Prometheus, apps and the watch all run
        assert _holders(log_dir), "nothing of the demo runs mid-release"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(5)
    proc.stdout.close()
    output = "".join(seen)
    assert code == 130, output
    assert "Interrupted" in output
    deadline = time.monotonic() + 10
    while (left := _holders(log_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "still running after Ctrl-C:\n" + "\n".join(left)
    assert not _pod_apps(demo_namespace), "pod apps still run after Ctrl-C"
