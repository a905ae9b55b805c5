"""``landinggear run`` against an API server it cannot reach: the Lease check does not
end it (only a Lease the cluster forbids does), and SIGTERM ends it while the caches
wait to sync (it used to wait for them forever, ignoring the signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.unit.test_manager_health import KUBECONFIG

ROOT = Path(__file__).parents[2]


def test_run_keeps_trying_an_unreachable_api_server_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)  # https://127.0.0.1:9: nothing listens
    with subprocess.Popen(
        [sys.executable, "-m", "controller", "run", f"--kubeconfig={kubeconfig}",
         "--metrics-address=127.0.0.1:0"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as proc:  # fmt: skip
        try:
            assert proc.stderr is not None
            lines = []
            for line in proc.stderr:
                lines.append(line)
                if "Failed to list or watch" in line:
                    break
            assert any("Could not check the leader-election Lease" in x for x in lines), lines
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
