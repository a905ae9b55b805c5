"""``python -m e2e.bench.judgement --quick --json``: it runs, prints its targets, keeps its keys.

Offline and a few seconds, but a subprocess: kept out of ``pytest -m unit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
SUMMARY = {"median_requests", "p95_requests", "median_seconds", "detect_rate"}
METHODS = {"ours", "flagger_default", "argo_default", "flagger_tuned", "argo_tuned"}
SCENARIOS = {"stationary", "step", "diurnal", "burst"}


def test_the_quick_benchmark_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "judgement.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "e2e.bench.judgement", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    verdicts = [
        line.split()[0] for line in proc.stdout.splitlines() if line[:4] in ("PASS", "FAIL")
    ]
    assert len(verdicts) == 4

    document = json.loads(out.read_text())
    assert document["seed"] != document["calibration_seed"]
    assert {
        "alpha",
        "ours_false_rollback",
        "flagger_false_rollback",
        "argo_false_rollback",
        "flagger_tuned_false_rollback",
        "argo_tuned_false_rollback",
    } <= set(document["aa"])
    assert document["cases"]
    for case in document["cases"]:
        for key in (
            "name",
            "p0",
            "p1",
            "rps",
            "share",
            "sprt_bound_requests",
            "two_arm_bound_requests",
            "oracle_two_arm_requests",
        ):
            assert key in case
        for key in ("two_arm_oracle", "ours", "flagger", "argo", "flagger_tuned", "argo_tuned"):
            assert set(case[key]) == SUMMARY
        assert set(case["tuned"]) == {"flagger", "argo"}
        for family in ("flagger", "argo"):
            assert set(case["tuned"][family]) == set(case["flagger"])
        assert case["oracle_two_arm_requests"] == case["two_arm_oracle"]["median_requests"]
    drift = document["drift"]
    assert {(d["scenario"], d["method"]) for d in drift} == {
        (s, m) for s in SCENARIOS for m in METHODS
    }
    assert all(0.0 <= d["false_rollback"] <= 1.0 for d in drift)
    assert len(document["targets"]) == len(verdicts)
    assert [("PASS" if t["passed"] else "FAIL") for t in document["targets"]] == verdicts
