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


class Running:
    """The demo as a terminal's foreground job: its lines as they come."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            process_group=0,  # its own group, as a terminal's foreground job
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None or self._reader.is_alive(), (
                f"the demo ended (exit {self.proc.returncode}) before {text!r}:\n{self.output}"
            )
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{self.output}"
            time.sleep(0.2)

    def interrupt(self, timeout: float = 60) -> int:
        """What Ctrl-C in its terminal does; its exit code."""
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def test_the_demo_promotes_a_healthy_release_rolls_back_a_bad_one_and_switches_a_flag_off(
    kube: ClusterUnderTest, demo_namespace: str, tmp_path: Path
) -> None:
    """The story, then (``--stay``) a rollback typed by hand while the demo stays up:
    carried out on the running apps, and Ctrl-C then stops everything."""
    log_dir, summary_file = tmp_path / "logs", tmp_path / "summary.json"
    demo = Running(_demo(kube, demo_namespace, log_dir, f"--summary-json={summary_file}", "--stay"))
    try:
        demo.wait_for("Everything keeps running until Ctrl-C", timeout=300)
        _check_the_story(kube, demo_namespace, demo.output, json.loads(summary_file.read_text()))
        _check_a_rollback_by_hand(kube, demo_namespace)
    finally:
        code = demo.interrupt()
    print(demo.output)
    assert code == 0, f"the demo failed:\n{demo.output}\n(logs: {log_dir})"
    assert "Everything the demo started is stopped" in demo.output
    summary = json.loads(summary_file.read_text())
    assert summary["processes"], "the demo recorded no process it started"
    deadline = time.monotonic() + 10
    while (alive := [p for p in summary["processes"] if Path(f"/proc/{p}").exists()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert not alive, f"processes the demo started still run: {alive}"
    assert not _holders(log_dir)
    assert not _pod_apps(demo_namespace)


def _check_a_rollback_by_hand(kube: ClusterUnderTest, namespace: str) -> None:
    """``landinggear rollback``, as the stay hint says, while the demo's apps, traffic and
    controller still run: the previous stable serves again with every pod Ready."""
    before = _rollout_status(kube, namespace)
    back_to = before["previousStableRevision"]
    done = subprocess.run(
        [sys.executable, "-m", "controller", "rollback", "web", f"--namespace={namespace}",
         f"--kubeconfig={kube.kubeconfig}", "--reason=tried by hand", "--wait"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    # --wait: the controller's own account of the request, once it has acted on it.
    assert done.stdout.splitlines()[-1].startswith("Done: Degraded: RolledBack by "), done.stdout
    deadline = time.monotonic() + 60
    while True:
        status = _rollout_status(kube, namespace)
        if status.get("stableRevision") == back_to and status.get("stableReadyReplicas") == 3:
            break
        assert time.monotonic() < deadline, f"the rollback by hand never completed: {status}"
        time.sleep(0.5)
    # Rolled back by hand, the release it undid is blocked until retried or replaced.
    assert status["phase"] == "Degraded"
    assert status["blockedRevision"] == before["stableRevision"]
    assert status["history"][-1]["action"] == "RolledBack"
    assert status["history"][-1]["by"] != "controller"


def _check_the_story(
    kube: ClusterUnderTest, demo_namespace: str, output: str, summary: dict[str, Any]
) -> None:
    assert "== Summary" in output
    assert "AnalysisFailed" in output  # the evidence is shown

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
    assert "FlagsDisabled" in output or "new-checkout" in output

    status = _rollout_status(kube, demo_namespace)
    assert status["phase"] == "Healthy"
    assert status["stableRevision"] == flagged["revision"]
    assert status["featureFlags"][0]["state"] == "Off"
    actions = [h["action"] for h in status["history"]]
    assert "FlagsDisabled" in actions
    assert bad["revision"] in [h["revision"] for h in status["history"] if h["action"] == "Aborted"]


def test_ctrl_c_stops_everything_the_demo_started(
    kube: ClusterUnderTest, demo_namespace: str, tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    demo = Running(_demo(kube, demo_namespace, log_dir))
    try:
        demo.wait_for("kubectl set image", timeout=120)  # v2 released
        time.sleep(3)  # mid-release: controller, Prometheus, apps and the watch all run
        assert _holders(log_dir), "nothing of the demo runs mid-release"
    finally:
        code = demo.interrupt()
    output = demo.output
    assert code == 130, output
    assert "Interrupted" in output
    deadline = time.monotonic() + 10
    while (left := _holders(log_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "still running after Ctrl-C:\n" + "\n".join(left)
    assert not _pod_apps(demo_namespace), "pod apps still run after Ctrl-C"
