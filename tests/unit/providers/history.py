"""A fake ``MetricProvider`` for unit tests: raw counter samples per (selector, time).

It stands in for what a real Prometheus answers to an instant query of a plain
series selector: each series' last raw sample at or before the evaluation time.
The tests give those samples directly; the real server's side of it is
exercised in ``tests/cluster/providers/test_real_prometheus.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from controller.providers import Sample
from controller.providers.templates import Variables

VARIABLES = Variables(
    rollout="web", namespace="shop", service="web", canary="c4n4ry", stable="st4bl3", window="30s"
)
REQUESTS = 'http_requests_total{namespace="shop", revision="c4n4ry"}'
FAILED = 'http_requests_total{namespace="shop", revision="c4n4ry", code=~"5.."}'
COUNT = 'http_request_duration_seconds_count{namespace="shop", revision="c4n4ry"}'
FAST = 'http_request_duration_seconds_bucket{namespace="shop", revision="c4n4ry", le="0.25"}'
"""What ``app_errors()`` and ``app_latency(bound_seconds=0.25)`` select for the canary."""

Answer = list[Sample] | Callable[[], list[Sample]]


def sample(value: float, **labels: str) -> Sample:
    return Sample(labels=labels, value=value)


class History:
    """Answers ``(selector, at)`` from a table; a pair not in it matches no series.

    A callable answer is called at query time, so a test can change the data
    between two reads (a scrape landing mid-look).
    """

    def __init__(self, answers: dict[tuple[str, datetime], Answer]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, datetime | None]] = []

    async def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]:
        self.calls.append((promql, at))
        if at is None:
            raise AssertionError("counts must pin every query's evaluation time")
        answer = self.answers.get((promql, at), [])
        return answer() if callable(answer) else list(answer)

    async def aclose(self) -> None:
        return None
