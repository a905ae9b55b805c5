"""The analyst: which queries a look runs and what it makes of their answers (fake Prometheus).

The provider is a fake answering by query text: these tests are about the
analyst's mapping (no data, several series, bad templates, guard looks), which
the cluster tests exercise against a real Prometheus.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.api.v1alpha1 import Rollout
from controller.core.measurements import Measurements
from controller.providers import MetricProvider, ProviderUnreachable, Sample
from controller.providers.prometheus_config import PrometheusConfig
from controller.reconcile.analyst import Analyst

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROM = "http://prom:9090"


class FakeProvider:
    """Answers by the first needle found in the query: from ``answers``, or from
    ``before`` for queries evaluated at ``start`` (when the test's analysis started)."""

    def __init__(
        self,
        answers: dict[str, list[float]],
        fail: bool = False,
        *,
        before: dict[str, list[float]] | None = None,
        start: datetime = T0,
    ) -> None:
        self.answers = answers
        self.before = before or {}
        self.start = start
        self.fail = fail
        self.queries: list[str] = []
        self.times: list[datetime | None] = []
        self.closed = False

    async def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]:
        self.queries.append(promql)
        self.times.append(at)
        if self.fail:
            raise ProviderUnreachable("refused", address="http://p", query=promql)
        for needle, values in (self.before if at == self.start else self.answers).items():
            if needle in promql:
                return [Sample(labels={"i": str(i)}, value=v) for i, v in enumerate(values)]
        return []

    async def aclose(self) -> None:
        self.closed = True


def measure(subject: Analyst, target: Rollout, now: datetime) -> Measurements | None:
    return asyncio.run(subject.measure(target, now))


def rollout(metrics: list[dict[str, Any]], status: dict[str, Any]) -> Rollout:
    return Rollout.model_validate(
        {
            "name": "web",
            "namespace": "shop",
            "spec": {
                "workloadRef": {"name": "web"},
                "strategy": {
                    "canary": {
                        "steps": [{"setWeight": 50}],
                        "analysis": {
                            "prometheus": {"address": PROM},
                            "interval": "10s",
                            "metrics": metrics,
                        },
                    }
                },
            },
            "status": status,
        }
    )


CANARY = {"stableRevision": "aaa", "canaryRevision": "bbb"}
SEEN = {
    **CANARY,
    "analysis": {
        "revision": "bbb",
        "startedAt": T0.isoformat(),
        "metrics": [{"name": "m", "measuredAt": T0.isoformat()}],
    },
}


def analyst(provider: FakeProvider) -> Analyst:
    return Analyst(default=None, endpoints=[PROM], connect=lambda _: provider)


def test_providers_are_reused_per_configuration() -> None:
    made: list[PrometheusConfig] = []

    def connect(config: PrometheusConfig) -> MetricProvider:
        made.append(config)
        return FakeProvider({})

    subject = Analyst(default=None, endpoints=[PROM], connect=connect)
    spec = rollout([{"name": "m", "builtin": "app-errors"}], CANARY).spec.strategy.canary.analysis
    assert spec is not None
    first = subject.provider(spec, spec.metrics[0])
    assert subject.provider(spec, spec.metrics[0]) is first
    assert len(made) == 1


def test_a_comparison_counts_both_revisions_since_the_analysis_started() -> None:
    provider = FakeProvider(
        {'code=~"5.."': [], 'revision="bbb"': [100.0], 'revision="aaa"': [300.0]},
        before={'code=~"5.."': [], 'revision="bbb"': [40.0], 'revision="aaa"': [250.0]},
    )
    subject = analyst(provider)
    now = T0 + timedelta(seconds=12)
    looks = measure(subject, rollout([{"name": "m", "builtin": "app-errors"}], SEEN), now)
    assert looks is not None
    window = looks.results[0].window
    assert window is not None
    assert (window.canary_requests, window.canary_bad) == (60.0, 0.0)
    assert (window.stable_requests, window.stable_bad) == (50.0, 0.0)
    assert set(provider.times) == {T0, now}  # the analysis' start and now
    assert all("(" not in q and "[" not in q for q in provider.queries)  # raw samples


def test_a_counter_that_is_not_a_whole_number_is_an_error() -> None:
    looks = measure(
        analyst(FakeProvider({'code=~"5.."': [], "revision=": [2.5]})),
        rollout([{"name": "m", "builtin": "app-errors"}], SEEN),
        T0 + timedelta(seconds=10),
    )
    assert looks is not None
    result = looks.results[0]
    assert (result.window, result.invalid) == (None, "")
    assert "whole requests" in result.error


def test_a_threshold_query_returning_several_series_is_an_error_not_a_value() -> None:
    metric = {"name": "m", "threshold": {"query": 'up{job="${rollout}"}', "success": "> 0"}}
    looks = measure(
        analyst(FakeProvider({"up": [1.0, 2.0]})),
        rollout([metric], SEEN),
        T0 + timedelta(seconds=10),
    )
    assert looks is not None
    assert "returned 2 series" in looks.results[0].error


@pytest.mark.parametrize("answer", [[], [float("nan")]])
def test_no_series_or_nan_is_no_data(answer: list[float]) -> None:
    metric = {"name": "m", "threshold": {"query": "vector(1)", "success": "> 0"}}
    looks = measure(
        analyst(FakeProvider({"vector": answer})),
        rollout([metric], SEEN),
        T0 + timedelta(seconds=10),
    )
    assert looks is not None
    result = looks.results[0]
    assert (result.value, result.error, result.invalid) == (None, "", "")


def test_a_template_that_cannot_be_rendered_makes_the_metric_invalid() -> None:
    metric = {"name": "m", "threshold": {"query": "up{job=${rollout}}", "success": "> 0"}}
    looks = measure(analyst(FakeProvider({})), rollout([metric], SEEN), T0 + timedelta(seconds=10))
    assert looks is not None
    assert "double-quoted" in looks.results[0].invalid


def test_a_dead_prometheus_is_an_error() -> None:
    looks = measure(
        analyst(FakeProvider({}, fail=True)),
        rollout([{"name": "m", "builtin": "app-errors"}], SEEN),
        T0 + timedelta(seconds=10),
    )
    assert looks is not None
    assert "refused" in looks.results[0].error


def test_the_guard_counts_only_the_new_stable() -> None:
    status = {
        "stableRevision": "bbb",
        "previousStableRevision": "aaa",
        "analysis": {
            "revision": "bbb",
            "stage": "Guard",
            "baselineRevision": "aaa",
            "startedAt": T0.isoformat(),
            "endsAt": (T0 + timedelta(minutes=5)).isoformat(),
            "metrics": [{"name": "m", "measuredAt": T0.isoformat(), "stableRequests": 500}],
        },
    }
    guard_started = T0 + timedelta(minutes=1)
    status["analysis"]["startedAt"] = guard_started.isoformat()  # type: ignore[index]
    provider = FakeProvider({'revision="bbb"': [80.0]}, start=guard_started)
    now = guard_started + timedelta(seconds=10)
    looks = measure(
        analyst(provider), rollout([{"name": "m", "builtin": "app-errors"}], status), now
    )
    assert looks is not None
    assert looks.stage == "Guard"
    assert looks.revision == "bbb"
    assert all('revision="aaa"' not in q for q in provider.queries)
    assert set(provider.times) == {guard_started, now}  # counted since the guard began
    window = looks.results[0].window
    assert window is not None
    assert window.canary_requests == 80.0


def test_nothing_is_measured_once_the_guard_completed() -> None:
    status = {
        "stableRevision": "bbb",
        "analysis": {"revision": "bbb", "stage": "Guard", "baselineRevision": "aaa",
                     "completed": True, "metrics": [{"name": "m"}]},
    }  # fmt: skip
    provider = FakeProvider({})
    assert (
        measure(analyst(provider), rollout([{"name": "m", "builtin": "app-errors"}], status), T0)
        is None
    )
    assert provider.queries == []
