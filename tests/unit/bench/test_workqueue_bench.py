"""The work-queue bench measures the queue it is given, and the queue keeps time under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.bench.workqueue import load, main, run_round

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def test_a_round_processes_keys_and_hands_delayed_ones_out_on_time() -> None:
    figures = run_round(load(ROOT, "workqueue_under_test"), seconds=1.0, seed=7)
    # 1,000 keys queued at the start, then requeues and 500 adds a second.
    assert figures["keys_per_s"] > 500
    assert figures["cpu_s_per_1000"] > 0
    assert figures["late_p99_ms"] < 250  # 16 workers, mostly idle: a delayed key is not left


def test_a_tree_without_the_queue_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no work queue at"):
        main(["--before", str(tmp_path), "--quick"])
