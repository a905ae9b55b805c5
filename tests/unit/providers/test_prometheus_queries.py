"""Instant queries: results parsed as documented, failures classified, retries bounded."""

from __future__ import annotations

import math
import ssl
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from structlog.testing import capture_logs

from controller.providers import ErrorKind, ProviderError, ProviderHTTPStatus, Sample
from controller.providers.prometheus import BACKOFF_FIRST_SECONDS, MAX_GET_BYTES
from tests.support.aio import synchronously
from tests.unit.providers.fakes import (
    ADDRESS,
    ScriptedPrometheus,
    error,
    make_provider,
    scalar,
    success,
    vector,
)

QUERY = 'sum(increase(http_requests_total{revision="abc"}[30s]))'


@synchronously
async def test_vector_result_becomes_labelled_samples() -> None:
    backend = ScriptedPrometheus(vector(({"code": "200"}, "12"), ({"code": "500"}, "3.5")))
    async with make_provider(backend) as provider:
        samples = await provider.query(QUERY)
    assert samples == [Sample({"code": "200"}, 12.0), Sample({"code": "500"}, 3.5)]
    request = backend.requests[0]
    assert request.method == "GET"
    assert str(request.url).startswith(f"{ADDRESS}/api/v1/query?")
    assert backend.params()["query"] == QUERY
    assert backend.params()["timeout"] == "9"  # 90 % of the 10 s default


@synchronously
async def test_scalar_result_is_one_sample_without_labels() -> None:
    async with make_provider(ScriptedPrometheus(scalar("42"))) as provider:
        assert await provider.query("scalar(1)") == [Sample({}, 42.0)]


@synchronously
async def test_empty_vector_is_an_empty_list() -> None:
    async with make_provider(ScriptedPrometheus(vector())) as provider:
        assert await provider.query(QUERY) == []


@synchronously
async def test_nan_and_infinities_are_returned_as_such() -> None:
    backend = ScriptedPrometheus(
        vector(({"a": "1"}, "NaN"), ({"a": "2"}, "+Inf"), ({"a": "3"}, "-Inf"))
    )
    async with make_provider(backend) as provider:
        values = [s.value for s in await provider.query(QUERY)]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf]


@synchronously
async def test_evaluation_time_is_sent_in_unix_seconds() -> None:
    backend = ScriptedPrometheus(vector())
    at = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    async with make_provider(backend) as provider:
        await provider.query(QUERY, at=at)
    assert backend.params()["time"] == f"{at.timestamp():.3f}"


@synchronously
async def test_naive_evaluation_time_is_refused() -> None:
    async with make_provider(ScriptedPrometheus(vector())) as provider:
        with pytest.raises(ValueError, match="aware"):
            await provider.query(QUERY, at=datetime(2024, 5, 1))


@synchronously
async def test_long_query_is_sent_as_a_form_post() -> None:
    backend = ScriptedPrometheus(vector())
    long_query = "sum(" + " + ".join(f'up{{job="j{i}"}}' for i in range(200)) + ")"
    assert len(long_query) > MAX_GET_BYTES
    async with make_provider(backend) as provider:
        await provider.query(long_query, at=datetime(2024, 5, 1, tzinfo=UTC))
    request = backend.requests[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert backend.params()["query"] == long_query
    assert "time" in backend.params()


@synchronously
async def test_address_with_a_path_prefix_is_kept() -> None:
    backend = ScriptedPrometheus(vector())
    async with make_provider(backend, address="https://mimir.test/prometheus/") as provider:
        await provider.query(QUERY)
    assert backend.requests[0].url.path == "/prometheus/api/v1/query"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (httpx.Response(200, text="<html>proxy login</html>"), "without a successful"),
        (success({"resultType": "matrix", "result": []}), "got resultType 'matrix'"),
        (success({"resultType": "string", "result": [1, "x"]}), "got resultType 'string'"),
        (
            success({"resultType": "vector", "result": [{"metric": {}, "histogram": [1, {}]}]}),
            "native histogram",
        ),
        (
            success({"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]}),
            "not a number",
        ),
        (
            success({"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [1, "1"]}]}),
            "labels",
        ),
        (success({"resultType": "scalar", "result": [1, 2]}), "pair"),
    ],
)
@synchronously
async def test_unusable_success_bodies_are_bad_responses(
    reply: httpx.Response, reason: str
) -> None:
    backend = ScriptedPrometheus(reply)
    async with make_provider(backend) as provider:
        with pytest.raises(ProviderError, match=reason) as caught:
            await provider.query(QUERY)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE
    assert len(backend.requests) == 1


@pytest.mark.parametrize(("status", "error_type"), [(400, "bad_data"), (422, "execution")])
@synchronously
async def test_rejected_query_is_bad_query_and_not_retried(status: int, error_type: str) -> None:
    backend = ScriptedPrometheus(error(status, error_type, 'parse error: unexpected "}"'))
    sleeps: list[float] = []
    async with make_provider(backend, sleeps=sleeps) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.query(QUERY)
    assert caught.value.kind is ErrorKind.BAD_QUERY
    assert f"{error_type}: parse error" in str(caught.value)
    assert len(backend.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [401, 403, 404, 500])
@synchronously
async def test_other_statuses_are_not_retried(status: int) -> None:
    backend = ScriptedPrometheus(httpx.Response(status, text="nope"))
    async with make_provider(backend) as provider:
        with pytest.raises(ProviderHTTPStatus) as caught:
            await provider.query(QUERY)
    assert caught.value.kind is ErrorKind.HTTP_STATUS
    assert caught.value.status == status
    assert len(backend.requests) == 1


@synchronously
async def test_unavailable_then_success_is_retried_after_a_jittered_backoff() -> None:
    backend = ScriptedPrometheus(httpx.Response(503), vector(({}, "7")))
    sleeps: list[float] = []
    async with make_provider(backend, sleeps=sleeps) as provider:
        with capture_logs() as logs:
            assert await provider.query(QUERY) == [Sample({}, 7.0)]
    assert len(backend.requests) == 2
    assert len(sleeps) == 1
    assert BACKOFF_FIRST_SECONDS / 2 <= sleeps[0] <= BACKOFF_FIRST_SECONDS
    assert [e["event"] for e in logs] == ["Prometheus query failed, retrying"]
    assert logs[0]["kind"] == "http_status"


@pytest.mark.parametrize("status", [429, 502, 503, 504])
@synchronously
async def test_retryable_statuses_give_up_after_the_configured_retries(status: int) -> None:
    backend = ScriptedPrometheus(httpx.Response(status))
    sleeps: list[float] = []
    async with make_provider(backend, sleeps=sleeps, retries=3) as provider:
        with pytest.raises(ProviderHTTPStatus) as caught:
            await provider.query(QUERY)
    assert len(backend.requests) == 4
    assert caught.value.attempts == 4
    assert "after 4 attempts" in str(caught.value)
    steps = [BACKOFF_FIRST_SECONDS * 2**i for i in range(3)]
    assert all(step / 2 <= slept <= step for slept, step in zip(sleeps, steps, strict=True))
    assert len(set(sleeps)) == 3


@synchronously
async def test_backoff_is_jittered_differently_for_different_random_sources() -> None:
    async def sleeps_with(seed: int) -> list[float]:
        sleeps: list[float] = []
        backend = ScriptedPrometheus(httpx.Response(503))
        async with make_provider(backend, sleeps=sleeps, seed=seed) as p:
            with pytest.raises(ProviderError):
                await p.query(QUERY)
        return sleeps

    assert await sleeps_with(1) == await sleeps_with(1)
    assert await sleeps_with(1) != await sleeps_with(2)


@synchronously
async def test_retry_budget_stops_retrying_before_a_backoff_would_overrun_it() -> None:
    backend = ScriptedPrometheus(httpx.Response(503))
    sleeps: list[float] = []
    async with make_provider(
        backend, sleeps=sleeps, retries=10, retry_budget_seconds=0.2
    ) as provider:
        with pytest.raises(ProviderHTTPStatus):
            await provider.query(QUERY)
    assert len(backend.requests) == 1  # the first backoff (>= 0.25 s) would not fit
    assert sleeps == []


@synchronously
async def test_server_side_query_timeout_is_a_timeout() -> None:
    backend = ScriptedPrometheus(error(503, "timeout", "query timed out in expression evaluation"))
    async with make_provider(backend, retries=1) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.query(QUERY)
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert len(backend.requests) == 2


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("read timed out"), httpx.ConnectTimeout("connect timed out")]
)
@synchronously
async def test_client_timeouts_are_retried_then_reported_as_timeouts(failure: Exception) -> None:
    backend = ScriptedPrometheus(failure)
    async with make_provider(backend, retries=2) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.query(QUERY)
    assert caught.value.kind is ErrorKind.TIMEOUT
    assert len(backend.requests) == 3


@synchronously
async def test_timeouts_are_passed_to_the_http_client() -> None:
    seen: list[dict[str, float]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return vector()

    async with make_provider(
        ScriptedPrometheus(record), timeout_seconds=4, connect_timeout_seconds=1.5
    ) as p:
        await p.query(QUERY)
    assert seen == [{"connect": 1.5, "read": 4.0, "write": 4.0, "pool": 4.0}]


@synchronously
async def test_connection_refused_is_unreachable_and_retried() -> None:
    backend = ScriptedPrometheus(httpx.ConnectError("[Errno 111] Connection refused"), vector())
    async with make_provider(backend) as provider:
        assert await provider.query(QUERY) == []
    assert len(backend.requests) == 2


@synchronously
async def test_a_tls_alert_after_the_handshake_is_unreachable_not_a_crash() -> None:
    # TLS 1.3 servers refuse a missing client certificate after the handshake; on
    # httpx's asyncio backend that alert arrives as a raw ssl.SSLError.
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] certificate required")
    backend = ScriptedPrometheus(alert)
    async with make_provider(backend, retries=0) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.query(QUERY)
    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert "CERTIFICATE_REQUIRED" in str(caught.value)


@synchronously
async def test_unreachable_error_names_the_address_and_the_shortened_query() -> None:
    backend = ScriptedPrometheus(httpx.ConnectError("[Errno 111] Connection refused"))
    long_query = "sum(increase(" + "x" * 300 + "[30s]))"
    async with make_provider(backend, retries=0) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.query(long_query)
    message = str(caught.value)
    assert caught.value.kind is ErrorKind.UNREACHABLE
    assert ADDRESS in message
    assert "Connection refused" in message
    assert "sum(increase(xxx" in message
    assert "…" in message
    assert len(message) < 300
    assert caught.value.query == long_query
