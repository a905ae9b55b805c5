"""``python -m e2e.demo.chat`` (``make demo-chat``), end to end on the cluster under test.

The demo runs as the user runs it (a process, its own namespace here) with
``--summary-json``; the test checks the story's outcome in the cluster, the
measured figures (alice's abort from Matrix → answer, canary at 0, traffic all on
the stable; bob refused with nothing changed), and that nothing the demo started
outlives it: no process, and not the bot's cluster-wide RBAC objects.
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

import pytest

from e2e.demo.story import delete_namespace
from tests.cluster.test_demo import _holders, _rollout_status
from tests.support.kube import ClusterUnderTest

ROOT = Path(__file__).parents[2]


@pytest.fixture
def chat_namespace(kube: ClusterUnderTest) -> Iterator[str]:
    name = f"lg-demochat-{uuid.uuid4().hex[:8]}"
    yield name
    delete_namespace(str(kube.kubeconfig), kube.kubectl_path, name)


def test_the_chat_demo_aborts_a_held_release_from_matrix_and_refuses_bob(
    kube: ClusterUnderTest, chat_namespace: str, tmp_path: Path
) -> None:
    log_dir, summary_file = tmp_path / "logs", tmp_path / "summary.json"
    proc = subprocess.run(
        [sys.executable, "-m", "e2e.demo.chat", f"--kubeconfig={kube.kubeconfig}",
         f"--namespace={chat_namespace}", f"--log-dir={log_dir}",
         f"--summary-json={summary_file}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    print(proc.stdout)
    assert proc.returncode == 0, f"the demo failed:\n{proc.stderr}\n(logs: {log_dir})"
    assert "== Summary" in proc.stdout
    target = f"{chat_namespace}/web"
    assert f"!landinggear abort {target}" in proc.stdout  # the release note, as alice sees it

    summary = json.loads(summary_file.read_text())
    assert 0 < summary["release_to_note"] < 30
    # bob is mapped, but may not patch Rollouts: refused politely, nothing changed.
    assert summary["refused"].startswith("Sorry, matrix:@bob:localhost (Kubernetes user bob)")
    assert summary["refused_changed_nothing"] is True
    # alice's abort: answered in her thread, the canary gone, the traffic all on the stable.
    assert summary["answer"] == (
        f"Requested abort of rollout {target} (as matrix:@alice:localhost): errors in checkout"
    )
    assert 0 < summary["to_answer"] < 10
    assert 0 < summary["to_canary_zero"] < 10
    assert 0 < summary["to_traffic_stable"] <= summary["to_canary_zero"] + 2
    assert 0 < summary["to_aborted"] < 10
    assert summary["stable_min_ready"] == 3  # the stable never shrank: no capacity lost
    assert summary["canary_errors"] >= 10  # what alice saw before she typed
    assert summary["canary_errors"] < summary["canary_served"]
    assert summary["edited_note"] == f"{target}: release {summary['revision']} aborted"
    assert summary["requests_sent"] > 0
    assert summary["requests_unrouted"] == 0

    status = _rollout_status(kube, chat_namespace)
    assert status["phase"] == "Degraded"
    assert status["blockedRevision"] == summary["revision"]
    aborted = [h for h in status["history"] if h["action"] == "Aborted"]
    assert [h["by"] for h in aborted] == ["matrix:@alice:localhost"]

    assert len(summary["processes"]) >= 5, summary["processes"]  # bot, Synapse, controller, …
    alive = [pid for pid in summary["processes"] if Path(f"/proc/{pid}").exists()]
    assert not alive, f"processes the demo started still run: {alive}"
    assert not _holders(log_dir)
    role = f"landinggear-chatops-{chat_namespace}"
    left = kube.kubectl(
        "get", "clusterrole,clusterrolebinding", "--ignore-not-found", "-o", "name",
        f"--field-selector=metadata.name={role}",
    ).stdout  # fmt: skip
    assert not left.strip(), f"the bot's cluster-wide RBAC outlived the demo: {left}"


def test_ctrl_c_stops_everything_the_chat_demo_started(
    kube: ClusterUnderTest, chat_namespace: str, tmp_path: Path
) -> None:
    """Interrupted while the bot, Synapse, the controller and the apps all run."""
    log_dir = tmp_path / "logs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "e2e.demo.chat", f"--kubeconfig={kube.kubeconfig}",
         f"--namespace={chat_namespace}", f"--log-dir={log_dir}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        process_group=0,  # its own group, as a terminal's foreground job
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    held = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Held:"):
                held.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert held.wait(120), "the demo never held v2:\n" + "".join(seen)
        assert _holders(log_dir), "nothing of the demo runs mid-story"
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
    role = f"landinggear-chatops-{chat_namespace}"
    out = kube.kubectl("get", "clusterrole", "--ignore-not-found", "-o", "name", role).stdout
    assert not out.strip(), f"the bot's ClusterRole outlived the demo: {out}"
