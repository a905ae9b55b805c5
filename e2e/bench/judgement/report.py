"""Summaries and the printed tables: every figure comes from the runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from e2e.bench.judgement.judges import ALPHA, BETA, Outcomes
from e2e.bench.judgement.targets import reliable
from e2e.bench.judgement.traffic import Scenario

DRIFT_METHODS = ("ours", "flagger_default", "argo_default", "flagger_tuned", "argo_tuned")
OTHER_METHODS = (
    "flagger_tuned_no_burst",
    "argo_tuned_no_burst",
    "flagger_tuned_stationary",
    "argo_tuned_stationary",
    "flagger_threshold_only",
    "argo_threshold_only",
)
_LEGACY_AA = {
    "ours": "ours",
    "flagger": "flagger_default",
    "argo": "argo_default",
    "flagger_tuned": "flagger_threshold_only",
    "argo_tuned": "argo_threshold_only",
}

Row = Mapping[str, Any]


def summarise(outcomes: Outcomes) -> dict[str, float | None]:
    """Median and p95 canary requests, median seconds (runs rolled back), and their share."""
    caught = outcomes.rolled_back
    if not caught.any():
        return {
            "median_requests": None,
            "p95_requests": None,
            "median_seconds": None,
            "detect_rate": 0.0,
        }
    requests = np.sort(outcomes.requests[caught])
    p95 = requests[min(requests.size - 1, math.ceil(0.95 * requests.size) - 1)]
    return {
        "median_requests": float(np.median(requests)),
        "p95_requests": float(p95),
        "median_seconds": float(np.median(outcomes.seconds[caught])),
        "detect_rate": outcomes.rate,
    }


class Tally:
    """A/A rollbacks per scenario and method, pooled over traffics."""

    def __init__(self) -> None:
        self.rolled_back: dict[tuple[Scenario, str], int] = {}
        self.runs: dict[tuple[Scenario, str], int] = {}

    def add(self, scenario: Scenario, method: str, outcomes: Outcomes) -> None:
        key = (scenario, method)
        self.rolled_back[key] = self.rolled_back.get(key, 0) + int(outcomes.rolled_back.sum())
        self.runs[key] = self.runs.get(key, 0) + outcomes.seconds.size

    def rate(self, scenario: Scenario, method: str) -> float:
        return self.rolled_back[(scenario, method)] / self.runs[(scenario, method)]

    def rows(self, methods: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {
                "scenario": s.value,
                "method": m,
                "false_rollback": self.rate(s, m),
                "rolled_back": self.rolled_back[(s, m)],
                "runs": self.runs[(s, m)],
            }
            for s in Scenario
            for m in methods
        ]

    def legacy(self, alpha: float) -> dict[str, float]:
        """The stationary A/A rates under the benchmark's former keys."""
        return {"alpha": alpha} | {
            f"{old}_false_rollback": self.rate(Scenario.STATIONARY, new)
            for old, new in _LEGACY_AA.items()
        }


def _cell(summary: Mapping[str, Any]) -> str:
    med = summary["median_requests"]
    return (
        f"{'-':>7} {summary['detect_rate']:4.0%}"
        if med is None
        else (f"{med:7.0f} {summary['detect_rate']:4.0%}")
    )


def _ratio(top: Mapping[str, Any], bottom: Mapping[str, Any]) -> str:
    if not (reliable(top, BETA) and reliable(bottom, BETA)):
        return f"{'-':>5}"
    return f"{top['median_requests'] / bottom['median_requests']:5.2f}"


def _seconds(summary: Mapping[str, Any]) -> str:
    value = summary["median_seconds"]
    return f"{'-':>6}" if value is None else f"{value:6.0f}"


LEGEND = (
    "F = Flagger, A = Argo; dflt = documented settings; tuned = schedule, budget and "
    "threshold tuned with A/A <= alpha in every scenario; no-burst = the same without the "
    "burst scenario; stat. = the same on stationary traffic only; thr-only = documented "
    "schedule, threshold tuned on stationary traffic"
)
KINDS = {"tuned": "tuned", "tuned_no_burst": "no-burst", "tuned_stationary": "stat."}
SHORT = {
    "ours": "ours",
    "flagger_default": "F dflt",
    "argo_default": "A dflt",
    **{
        f"{f}_{kind}": f"{f[0].upper()} {label}"
        for kind, label in KINDS.items()
        for f in ("flagger", "argo")
    },
    "flagger_threshold_only": "F thr-only",
    "argo_threshold_only": "A thr-only",
}


def _table(title: str, head: str, body: list[str]) -> str:
    return "\n".join([title, head, "-" * len(head), *body])


def requests_table(rows: Sequence[Row], kinds: Sequence[str] = ("tuned",)) -> str:
    """Canary requests per case: ours, the oracle, the documented rules, tuned ones."""
    tuned = [(kind, f) for kind in kinds for f in ("flagger", "argo")]
    head = f"{'case':<30} {'1-arm':>6} {'oracle':>12} | {'ours':>12} {'/orc':>5} |"
    if kinds == ("tuned",):
        head += f" {'F dflt':>12} {'A dflt':>12} |"
    head += "".join(f" {SHORT[f'{f}_{kind}']:>12} {'/ours':>5} |" for kind, f in tuned)
    body = []
    for r in rows:
        line = (
            f"{r['name']:<30} {r['sprt_bound_requests']:6.0f} {_cell(r['two_arm_oracle'])} | "
            f"{_cell(r['ours'])} {_ratio(r['ours'], r['two_arm_oracle'])} |"
        )
        if kinds == ("tuned",):
            line += f" {_cell(r['flagger'])} {_cell(r['argo'])} |"
        for kind, f in tuned:
            line += f" {_cell(r[kind][f])} {_ratio(r[kind][f], r['ours'])} |"
        body.append(line)
    title = (
        "Canary requests to the rollback: median over the runs rolled back, and the share of "
        "runs rolled back; /orc = ours / oracle, /ours = rule / ours (where both catch >= 90 %)"
    )
    return _table(title, head, body)


def seconds_table(rows: Sequence[Row]) -> str:
    columns: list[tuple[str, tuple[str, ...]]] = [
        ("oracle", ("two_arm_oracle",)),
        ("ours", ("ours",)),
        ("F dflt", ("flagger",)),
        ("A dflt", ("argo",)),
    ]
    columns += [(SHORT[f"{f}_{k}"], (k, f)) for k in KINDS for f in ("flagger", "argo")]

    def pick(row: Row, path: tuple[str, ...]) -> Mapping[str, Any]:
        for key in path:
            row = row[key]
        return row

    head = f"{'case':<30} " + " ".join(f"{name:>10}" for name, _ in columns)
    body = [
        f"{r['name']:<30} " + " ".join(f"{_seconds(pick(r, path)):>10}" for _, path in columns)
        for r in rows
    ]
    return _table("Seconds to the rollback (median over the runs rolled back)", head, body)


def shares_table(rows: Sequence[Row]) -> str:
    """At 2x, per share: ours against the floors, in canary requests and in seconds."""
    head = (
        f"{'share':>5} {'cases':>5} {'Wald 2-arm/1-arm':>16} {'oracle/1-arm':>12} "
        f"{'ours/1-arm':>10} {'ours/oracle (range)':>22} {'ours seconds (range)':>21}"
    )
    body = []
    for share in sorted({r["share"] for r in rows}):
        cases = [
            r
            for r in rows
            if r["share"] == share
            and r["ratio"] == 2.0
            and reliable(r["ours"], BETA)
            and reliable(r["two_arm_oracle"], BETA)
        ]
        if not cases:
            body.append(f"{share:5.0%} {0:5d}")
            continue
        one = [r["sprt_bound_requests"] for r in cases]
        ours = [r["ours"]["median_requests"] for r in cases]
        orc = [r["two_arm_oracle"]["median_requests"] for r in cases]
        wald = [r["two_arm_bound_requests"] / b for r, b in zip(cases, one, strict=True)]
        ratio = [o / q for o, q in zip(ours, orc, strict=True)]
        secs = [r["ours"]["median_seconds"] for r in cases]
        body.append(
            f"{share:5.0%} {len(cases):5d} {statistics.median(wald):16.2f} "
            f"{statistics.median(q / b for q, b in zip(orc, one, strict=True)):12.2f} "
            f"{statistics.median(o / b for o, b in zip(ours, one, strict=True)):10.2f} "
            f"{statistics.median(ratio):6.2f} ({min(ratio):.2f}-{max(ratio):.2f}){'':>4} "
            f"{statistics.median(secs):7.0f} ({min(secs):.0f}-{max(secs):.0f})"
        )
    title = (
        "2x regression per share: medians over the rps x p0 cases where ours and the oracle "
        "both catch >= 90 % (canary requests relative to Wald's one-arm bound, and seconds)"
    )
    return _table(title, head, body)


def drift_table(aa: Tally, *, runs: int) -> str:
    methods = (*DRIFT_METHODS, *OTHER_METHODS)
    head = f"{'scenario':<11} " + " ".join(f"{SHORT[m]:>11}" for m in methods)
    body = [
        f"{s.value:<11} " + " ".join(f"{aa.rate(s, m):11.4f}" for m in methods) for s in Scenario
    ]
    total = aa.runs[(Scenario.STATIONARY, "ours")]
    title = (
        f"A/A false rollbacks per scenario ({total} good canaries each, {runs} per traffic), "
        f"alpha {ALPHA}"
    )
    return _table(title, head, body)


def rules_table(rule_rows: Sequence[Mapping[str, Any]]) -> str:
    def label(rule: Mapping[str, Any]) -> str:
        return f"{rule['interval']}s x{rule['failures']} >={1 - rule['max_error']:.2%}"

    kinds = [*KINDS, "threshold_only"]
    pairs = [(k, f) for k in kinds for f in ("flagger", "argo")]
    head = f"{'traffic':<20} " + " ".join(f"{SHORT[f'{f}_{k}']:>18}" for k, f in pairs)
    body = [
        f"{row['traffic']:<20} " + " ".join(f"{label(row[k][f]):>18}" for k, f in pairs)
        for row in rule_rows
    ]
    title = (
        "Threshold rules as calibrated: interval x failed checks to roll back >= minimum "
        "success rate of a check"
    )
    return _table(title, head, body)


def everything(
    rows: Sequence[Row], rule_rows: Sequence[Mapping[str, Any]], aa: Tally, *, runs: int
) -> str:
    parts = (
        LEGEND,
        rules_table(rule_rows),
        requests_table(rows),
        requests_table(rows, kinds=("tuned_no_burst", "tuned_stationary")),
        seconds_table(rows),
        shares_table(rows),
        drift_table(aa, runs=runs),
    )
    return "\n\n".join(parts)
