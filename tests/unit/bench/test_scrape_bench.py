"""The scrape bench measures the metrics module it is given, through its own WSGI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.bench.scrape import ROOT, load, main, measure

pytestmark = pytest.mark.unit


def test_one_family_costs_nothing_of_the_rollouts_and_the_page_grows_with_them() -> None:
    module = load(ROOT, "metrics_under_test")
    small, large = measure(module, 50, rounds=1), measure(module, 500, rounds=1)
    assert large["whole_kib"] > 5 * small["whole_kib"]  # every Rollout's series, rendered
    assert small["one_family_bytes"] == large["one_family_bytes"] < 300
    assert large["one_family_ms"] < large["whole_ms"] / 10


def test_a_run_writes_every_tree_and_n(tmp_path: Path) -> None:
    out = tmp_path / "scrape.json"
    assert main(["--rollouts", "20", "40", "--rounds", "1", "--before", str(ROOT),
                 "--json", str(out)]) == 0  # fmt: skip
    runs = json.loads(out.read_text())["runs"]
    assert [(r["tree"], r["rollouts"]) for r in runs] == [
        ("before", 20),
        ("after", 20),
        ("before", 40),
        ("after", 40),
    ]


def test_a_tree_without_the_metrics_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no controller metrics at"):
        main(["--before", str(tmp_path), "--quick"])
