"""``counts``: a revision's requests and bad requests, with "no data" kept apart from zero."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import httpx
import pytest

from controller.providers import ErrorKind, ProviderError, Sample
from controller.providers.builtin_metrics import app_errors
from controller.providers.templates import Counts, NoData, Role, Variables, counts
from tests.support.aio import synchronously
from tests.unit.providers.fakes import ScriptedPrometheus, make_provider, vector

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
VARIABLES = Variables(
    rollout="web", namespace="shop", service="web", canary="c4n4ry", stable="st4bl3", window="30s"
)


class Recorded:
    """A MetricProvider answering from a table of query -> samples."""

    def __init__(self, answers: list[list[Sample]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, datetime | None]] = []

    async def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]:
        self.calls.append((promql, at))
        return self.answers[len(self.calls) - 1]

    async def aclose(self) -> None:
        return None


@synchronously
async def test_counts_come_from_the_requests_and_bad_queries_at_one_instant() -> None:
    provider = Recorded([[Sample({}, 120.0)], [Sample({}, 3.0)]])
    result = await counts(provider, app_errors(), VARIABLES, Role.CANARY, at=AT)
    assert result == Counts(requests=120.0, bad=3.0)
    assert [at for _, at in provider.calls] == [AT, AT]
    assert all('revision="c4n4ry"' in query for query, _ in provider.calls)


@synchronously
async def test_zero_is_a_measurement() -> None:
    provider = Recorded([[Sample({}, 0.0)], [Sample({}, 0.0)]])
    assert await counts(provider, app_errors(), VARIABLES, Role.STABLE, at=AT) == Counts(0.0, 0.0)


@synchronously
async def test_empty_result_is_no_data_not_zero() -> None:
    provider = Recorded([[]])
    result = await counts(provider, app_errors(), VARIABLES, Role.STABLE, at=AT)
    assert isinstance(result, NoData)
    assert result.role is Role.STABLE
    assert result.query == provider.calls[0][0]
    assert len(provider.calls) == 1
    assert "no data for the stable revision" in str(result)


@synchronously
async def test_empty_bad_query_is_no_data_too() -> None:
    provider = Recorded([[Sample({}, 10.0)], []])
    result = await counts(provider, app_errors(), VARIABLES, Role.CANARY, at=AT)
    assert isinstance(result, NoData)
    assert result.query == provider.calls[1][0]


@synchronously
async def test_nan_is_kept() -> None:
    provider = Recorded([[Sample({}, math.nan)], [Sample({}, 1.0)]])
    result = await counts(provider, app_errors(), VARIABLES, Role.CANARY, at=AT)
    assert isinstance(result, Counts)
    assert math.isnan(result.requests)
    assert result.bad == 1.0


@synchronously
async def test_several_series_are_summed() -> None:
    provider = Recorded(
        [[Sample({"pod": "a"}, 10.0), Sample({"pod": "b"}, 5.0)], [Sample({}, 1.0)]]
    )
    assert await counts(provider, app_errors(), VARIABLES, Role.CANARY, at=AT) == Counts(15.0, 1.0)


@synchronously
async def test_counts_over_http_pins_the_evaluation_time() -> None:
    backend = ScriptedPrometheus(vector(({}, "40")), vector(({}, "2")))
    async with make_provider(backend) as provider:
        result = await counts(provider, app_errors(), VARIABLES, Role.CANARY, at=AT)
    assert result == Counts(40.0, 2.0)
    assert [backend.params(i)["time"] for i in (0, 1)] == [f"{AT.timestamp():.3f}"] * 2


@synchronously
async def test_provider_errors_propagate() -> None:
    backend = ScriptedPrometheus(httpx.Response(403))
    async with make_provider(backend) as provider:
        with pytest.raises(ProviderError) as caught:
            await counts(provider, app_errors(), VARIABLES, Role.CANARY, at=AT)
    assert caught.value.kind is ErrorKind.HTTP_STATUS
