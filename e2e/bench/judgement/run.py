"""The benchmark's run: calibrate on one seed, judge on another, print and write it all."""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from e2e.bench.judgement import report, targets
from e2e.bench.judgement.judges import (
    ALPHA,
    BETA,
    Family,
    IntervalRule,
    Outcomes,
    argo_default,
    flagger_default,
    one_arm_bound,
    oracle,
    ours,
    two_arm_bound,
)
from e2e.bench.judgement.traffic import HORIZON, LOOK, Case, Scenario, Stream, Traffic, simulate
from e2e.bench.judgement.tuning import best_tuned, calibrate

RATIOS: tuple[float | None, ...] = (1.5, 2.0, 5.0, None)


@dataclass(frozen=True, kw_only=True)
class Plan:
    traffics: tuple[Traffic, ...]
    ratios: tuple[float | None, ...]
    runs: int
    """Evaluation runs per regression case."""
    aa_runs: int
    """Evaluation A/A runs per traffic and scenario."""
    calibration_runs: int
    """A/A runs per scenario the thresholds are calibrated on."""
    selection_runs: int
    """2x runs the schedules are chosen on."""


def plan(*, quick: bool, runs: int | None = None) -> Plan:
    if quick:
        return Plan(
            traffics=(Traffic(rps=100, share=0.2, p0=0.01),),
            ratios=(2.0, 5.0, None),
            runs=runs or 40,
            aa_runs=runs or 100,
            calibration_runs=400,
            selection_runs=100,
        )
    traffics = tuple(
        Traffic(rps=rps, share=share, p0=p0)
        for rps in (10, 100, 1000)
        for share in (0.05, 0.2, 0.5)
        for p0 in (0.001, 0.01)
    )
    return Plan(
        traffics=traffics,
        ratios=RATIOS,
        runs=runs or 100,
        aa_runs=runs or 100,
        calibration_runs=2000,
        selection_runs=400,
    )


class Kind(StrEnum):
    """How a family's threshold rule was tuned (all on the calibration seed's streams)."""

    TUNED = "tuned"
    """Schedule, budget and threshold; A/A <= alpha in every scenario."""
    TUNED_NO_BURST = "tuned_no_burst"
    """The same, calibrated on stationary, step and diurnal traffic (no burst)."""
    TUNED_STATIONARY = "tuned_stationary"
    """The same, calibrated on stationary traffic only."""
    THRESHOLD_ONLY = "threshold_only"
    """The documented schedule; only the threshold calibrated, on stationary traffic."""


Rules = dict[Kind, dict[Family, IntervalRule]]
"""One traffic's tuned threshold rules."""


def tune(traffic: Traffic, plan: Plan, rng: np.random.Generator) -> Rules:
    aa = {
        s: simulate(Case(traffic=traffic, ratio=1.0), plan.calibration_runs, rng, s)
        for s in Scenario
    }
    regression = simulate(Case(traffic=traffic, ratio=2.0), plan.selection_runs, rng)
    under = {
        Kind.TUNED: list(aa.values()),
        Kind.TUNED_NO_BURST: [v for s, v in aa.items() if s is not Scenario.BURST],
        Kind.TUNED_STATIONARY: [aa[Scenario.STATIONARY]],
    }
    rules: Rules = {
        kind: {f: best_tuned(f, streams, regression, ALPHA) for f in Family}
        for kind, streams in under.items()
    }
    rules[Kind.THRESHOLD_ONLY] = {}
    for family, default in ((Family.FLAGGER, flagger_default()), (Family.ARGO, argo_default())):
        rule = calibrate(default, under[Kind.TUNED_STATIONARY], ALPHA)
        if rule is None:
            raise SystemExit(f"{traffic.name}: {family} cannot keep A/A <= alpha on its schedule")
        rules[Kind.THRESHOLD_ONLY][family] = rule
    return rules


def methods(rules: Rules) -> dict[str, Callable[[Stream], Outcomes]]:
    """Every judge by the name it has in the drift tables (``flagger_tuned``: best-tuned
    under drift, ``flagger_threshold_only``: the former ``flagger_tuned``)."""
    named = {
        "flagger_default": flagger_default(),
        "argo_default": argo_default(),
        **{f"{f}_{kind}": rule for kind, per in rules.items() for f, rule in per.items()},
    }
    return {"ours": ours, **{name: rule.judge for name, rule in named.items()}}


def case_row(case: Case, stream: Stream, rules: Rules) -> dict[str, Any]:
    judged = {name: report.summarise(judge(stream)) for name, judge in methods(rules).items()}
    traffic, ratio = case.traffic, case.p1 / case.traffic.p0
    two_arm = report.summarise(oracle(stream, ratio))
    row = {
        "name": case.name,
        "p0": traffic.p0,
        "p1": case.p1,
        "rps": traffic.rps,
        "share": traffic.share,
        "ratio": case.ratio,
        "sprt_bound_requests": one_arm_bound(traffic.p0, case.p1),
        "two_arm_bound_requests": two_arm_bound(traffic.p0, case.p1, traffic.share),
        "two_arm_oracle": two_arm,
        "oracle_two_arm_requests": two_arm["median_requests"],
        "ours": judged["ours"],
        "flagger": judged["flagger_default"],
        "argo": judged["argo_default"],
        "flagger_tuned": judged["flagger_threshold_only"],
        "argo_tuned": judged["argo_threshold_only"],
    }
    for kind in (Kind.TUNED, Kind.TUNED_NO_BURST, Kind.TUNED_STATIONARY):
        row[kind.value] = {f.value: judged[f"{f}_{kind}"] for f in Family}
    return row


def rule_row(traffic: Traffic, rules: Rules) -> dict[str, Any]:
    out: dict[str, Any] = {"traffic": traffic.name}
    for kind, per in rules.items():
        out[kind.value] = {
            f.value: {"interval": r.interval, "failures": r.failures, "max_error": r.max_error}
            for f, r in per.items()
        }
    return out


def main(argv: list[str] | None = None) -> int:
    from e2e.bench import judgement

    parser = argparse.ArgumentParser(
        prog="python -m e2e.bench.judgement",
        description=judgement.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="one traffic, in a few seconds")
    parser.add_argument("--runs", type=int, default=None, help="evaluation runs per case")
    parser.add_argument("--seed", type=int, default=20261128, help="the evaluation seed")
    parser.add_argument(
        "--calibration-seed",
        type=int,
        default=None,
        help="the seed thresholds and schedules are tuned on (default seed + 1)",
    )
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    args = parser.parse_args(argv)
    calibration_seed = args.seed + 1 if args.calibration_seed is None else args.calibration_seed
    if calibration_seed == args.seed:
        parser.error("the calibration seed must differ from the evaluation seed")
    chosen = plan(quick=args.quick, runs=args.runs)
    tuning_rng, rng = np.random.default_rng(calibration_seed), np.random.default_rng(args.seed)
    started = time.monotonic()
    rows, rule_rows, aa = [], [], report.Tally()
    for traffic in chosen.traffics:
        rules = tune(traffic, chosen, tuning_rng)
        rule_rows.append(rule_row(traffic, rules))
        for ratio in chosen.ratios:
            case = Case(traffic=traffic, ratio=ratio)
            rows.append(case_row(case, simulate(case, chosen.runs, rng), rules))
        for scenario in Scenario:
            stream = simulate(Case(traffic=traffic, ratio=1.0), chosen.aa_runs, rng, scenario)
            for name, judge in methods(rules).items():
                aa.add(scenario, name, judge(stream))
        print(f"  {traffic.name}: done at {time.monotonic() - started:.0f}s", flush=True)
    drift = aa.rows(report.DRIFT_METHODS)
    results = targets.evaluate(rows, drift, alpha=ALPHA, beta=BETA)
    print()
    print(report.everything(rows, rule_rows, aa, runs=chosen.aa_runs))
    print(
        f"\n{len(rows)} cases x {chosen.runs} runs, A/A {len(Scenario)} scenarios x "
        f"{len(chosen.traffics)} traffics x {chosen.aa_runs} runs; seed {args.seed}, calibration "
        f"seed {calibration_seed}; {time.monotonic() - started:.0f}s\n"
    )
    print("Targets:")
    print("\n".join(t.line() for t in results))
    extra = targets.references(rows, beta=BETA)
    print(
        "For reference, not targets (these rules keep A/A <= alpha only where calibrated; see "
        "the A/A table):"
    )
    print("\n".join("      " + t.line()[6:] for t in extra))
    if args.json:
        document = {
            "seed": args.seed,
            "calibration_seed": calibration_seed,
            "alpha": ALPHA,
            "beta": BETA,
            "look_seconds": LOOK,
            "horizon_seconds": HORIZON,
            "runs": chosen.runs,
            "aa_runs": chosen.aa_runs,
            "cases": rows,
            "aa": aa.legacy(ALPHA),
            "drift": drift,
            "drift_other": aa.rows(report.OTHER_METHODS),
            "tuned_rules": rule_rows,
            "targets": [
                {"name": t.name, "passed": t.passed, "measured": t.measured, "figures": t.figures}
                for t in results
            ],
            "references": [
                {"name": t.name, "measured": t.measured, "figures": t.figures} for t in extra
            ],
        }
        with open(args.json, "w") as out:
            json.dump(_plain(document), out, indent=2, allow_nan=False)
    return 0


def _plain(value: Any) -> Any:
    """JSON's values: numpy scalars as Python ones, infinities and NaN as null."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
