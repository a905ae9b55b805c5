"""The kill-soak, quick: 20 releases under controller kills, API server restarts and a
Prometheus outage on the local control plane, run as a user runs it
(``python -m e2e.bench.soak --quick``); every invariant it checks must hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kube import ClusterUnderTest

ROOT = Path(__file__).parents[2]


@pytest.mark.timeout(900)
def test_the_quick_kill_soak_breaks_no_invariant(kube: ClusterUnderTest, tmp_path: Path) -> None:
    if kube.audit_log is None:
        pytest.skip("needs the local control plane (restarts its API server)")
    figures_file = tmp_path / "soak.json"
    proc = subprocess.run(
        [
            sys.executable, "-m", "e2e.bench.soak", "--quick",
            f"--kubeconfig={kube.kubeconfig}",
            f"--json={figures_file}",
            f"--log-dir={tmp_path / 'soak'}",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=840, check=False,
    )  # fmt: skip
    print(proc.stdout)
    assert figures_file.exists(), f"the soak did not finish:\n{proc.stderr[-4000:]}"
    figures = json.loads(figures_file.read_text())
    assert figures["violations"] == []
    assert figures["wrong"] == []
    assert figures["outcomes"] == {"promoted_good": 8, "aborted_bad": 12, "wrong": 0}
    assert figures["kills"] >= 5
    assert figures["pods_replaced"] >= 1
    assert figures["apiserver_restarts"] == 2
    assert figures["prometheus_down_s"] >= 59
    assert figures["two_replicas_s"] > 0
    assert proc.returncode == 0, proc.stderr[-4000:]
