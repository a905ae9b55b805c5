"""The Prometheus HTTP API as a ``MetricProvider``: instant queries, retries, auth, TLS.

``GET /api/v1/query`` (a form ``POST`` when the query is long), parsed as the
API documents it: ``{"status", "data": {"resultType", "result"}}`` on success,
``{"status": "error", "errorType", "error"}`` otherwise. See the package
docstring for which failures are retried and which error each one raises.

Each attempt has a total deadline of ``timeout_seconds``: connecting, sending,
waiting and reading the whole body run under one ``asyncio.timeout``, so a server
that never answers or trickles its answer a byte at a time cannot hold a query
past it (httpx's own timeouts, kept as well, bound each network operation only).
"""

from __future__ import annotations

import asyncio
import base64
import random
import ssl
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from controller.providers import (
    BadQuery,
    BadResponse,
    CredentialsError,
    ProviderError,
    ProviderHTTPStatus,
    ProviderTimeout,
    ProviderUnreachable,
    Sample,
)
from controller.providers.prometheus_config import PrometheusConfig, ssl_context

__all__ = ["PrometheusConfig", "PrometheusProvider"]

log = structlog.get_logger(__name__)

QUERY_PATH = "/api/v1/query"
MAX_GET_BYTES = 2048
"""Longer encoded queries are sent as a form POST (proxies cap URL lengths)."""
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
SERVER_TIMEOUT_SHARE = 0.9
"""Prometheus is asked to give up at this share of ``timeout_seconds``, so a slow
query ends as its clean ``timeout`` error rather than a dropped connection."""


class PrometheusProvider:
    """Instant queries against one endpoint. ``sleep`` and ``rng`` drive the backoff (tests).

    Use it as an ``async with`` block, or call ``aclose`` when done.
    """

    def __init__(
        self,
        config: PrometheusConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
            verify=ssl_context(config.tls),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "landing-gear", "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"PrometheusProvider(address={self._config.address!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> PrometheusProvider:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]:
        """Run ``promql`` as an instant query at ``at`` (timezone-aware) or the server's now.

        Each attempt ends within ``timeout_seconds``; with the retries and their
        backoff the whole call stays within about ``retry_budget_seconds`` plus one
        attempt's ``timeout_seconds``.
        """
        params = {
            "query": promql,
            "timeout": f"{self._config.timeout_seconds * SERVER_TIMEOUT_SHARE:g}",
        }
        if at is not None:
            if at.tzinfo is None:
                raise ValueError("at must be timezone-aware")
            params["time"] = f"{at.timestamp():.3f}"
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._config.retries + 1)
            | stop_before_delay(self._config.retry_budget_seconds),
            wait=self._backoff,
            retry=retry_if_exception(lambda err: isinstance(err, ProviderError) and err.retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        attempts = 0

        async def attempt() -> list[Sample]:
            nonlocal attempts
            attempts += 1
            return await self._attempt(promql, params)

        try:
            return await retrying(attempt)
        except ProviderError as err:
            err.attempts = attempts
            raise

    def _backoff(self, state: RetryCallState) -> float:
        """Exponential backoff with "equal jitter": between half and all of the step."""
        step = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2.0 ** (state.attempt_number - 1))
        return step * (0.5 + self._rng.random() / 2)

    def _log_retry(self, state: RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        log.info(
            "Prometheus query failed, retrying",
            address=self._config.address,
            attempt=state.attempt_number,
            kind=str(err.kind) if isinstance(err, ProviderError) else None,
            reason=err.reason if isinstance(err, ProviderError) else None,
            sleep_seconds=round(state.upcoming_sleep, 3),
        )

    async def _attempt(self, promql: str, params: dict[str, str]) -> list[Sample]:
        """One request, bounded in total (connect to last body byte) by ``timeout_seconds``."""
        address = self._config.address
        headers = {**self._extra_headers(), **self._authorization(promql)}
        limit = self._config.timeout_seconds
        try:
            async with asyncio.timeout(limit):
                response = await self._send(promql, params, headers)
        except TimeoutError:
            raise ProviderTimeout(
                f"no complete answer within {limit:g}s", address=address, query=promql
            ) from None
        return _parse_response(response, address=address, query=promql)

    async def _send(
        self, promql: str, params: dict[str, str], headers: dict[str, str]
    ) -> httpx.Response:
        """The request and its whole body (httpx reads it before returning)."""
        address = self._config.address
        url = address + QUERY_PATH
        try:
            if len(urlencode(params)) > MAX_GET_BYTES:
                return await self._client.post(url, data=params, headers=headers)
            return await self._client.get(url, params=params, headers=headers)
        except httpx.TimeoutException as err:
            raise ProviderTimeout(
                f"timed out ({type(err).__name__})", address=address, query=promql
            ) from None
        except (httpx.TransportError, ssl.SSLError, OSError) as err:
            # httpx maps most transport failures; on its asyncio backend a TLS alert
            # that arrives after the handshake (TLS 1.3: "certificate required")
            # surfaces as the raw ssl.SSLError.
            raise ProviderUnreachable(
                f"could not reach the server ({type(err).__name__}: {err})",
                address=address,
                query=promql,
            ) from None

    def _extra_headers(self) -> dict[str, str]:
        return {name: value.get_secret_value() for name, value in self._config.headers.items()}

    def _authorization(self, promql: str) -> dict[str, str]:
        """The Authorization header, reading credential files now so rotation takes effect."""
        config = self._config
        try:
            if config.bearer_token is not None:
                return {"Authorization": f"Bearer {config.bearer_token.get_secret_value()}"}
            if config.bearer_token_file is not None:
                token = config.bearer_token_file.read_text().strip()
                return {"Authorization": f"Bearer {token}"}
            if config.basic_auth is not None:
                auth = config.basic_auth
                if auth.password is not None:
                    password = auth.password.get_secret_value()
                else:
                    assert auth.password_file is not None  # the model guarantees one of them
                    password = auth.password_file.read_text().strip()
                pair = base64.b64encode(f"{auth.username}:{password}".encode()).decode()
                return {"Authorization": f"Basic {pair}"}
        except OSError as err:
            raise CredentialsError(
                f"could not read the credential file {err.filename} ({err.strerror})",
                address=config.address,
                query=promql,
            ) from None
        return {}


def _parse_response(response: httpx.Response, *, address: str, query: str) -> list[Sample]:
    """Samples from a query response, or the ``ProviderError`` its status and body describe."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if 200 <= status < 300:
        if not isinstance(body, dict) or body.get("status") != "success":
            raise BadResponse(
                f"HTTP {status} without a successful Prometheus JSON body",
                address=address,
                query=query,
            )
        return _samples(body.get("data"), address=address, query=query)
    error_type = body.get("errorType") if isinstance(body, dict) else None
    error = body.get("error") if isinstance(body, dict) else None
    detail = f"{error_type}: {str(error)[:300]}" if error_type else response.reason_phrase
    if status in (400, 422):
        raise BadQuery(f"Prometheus rejected the query ({detail})", address=address, query=query)
    if status == 503 and error_type == "timeout":
        raise ProviderTimeout(
            f"query timed out on the server ({detail})", address=address, query=query
        )
    raise ProviderHTTPStatus(
        f"HTTP {status} ({detail})", address=address, query=query, status=status
    )


def _samples(data: Any, *, address: str, query: str) -> list[Sample]:
    def bad(reason: str) -> BadResponse:
        return BadResponse(reason, address=address, query=query)

    if not isinstance(data, dict):
        raise bad("response has no data object")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [Sample(labels={}, value=_value(result, bad))]
    if kind != "vector":
        raise bad(f"expected an instant vector or a scalar, got resultType {kind!r}")
    if not isinstance(result, list):
        raise bad("vector result is not a list")
    samples = []
    for item in result:
        if not isinstance(item, dict):
            raise bad("vector element is not an object")
        if "histogram" in item:
            raise bad("native histogram samples are not supported; query a float series")
        labels = item.get("metric", {})
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise bad("vector element has malformed labels")
        samples.append(Sample(labels=dict(labels), value=_value(item.get("value"), bad)))
    return samples


def _value(pair: Any, bad: Callable[[str], BadResponse]) -> float:
    """``[<unix time>, "<value>"]``; ``"NaN"``, ``"+Inf"`` and ``"-Inf"`` stay what they are."""
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        raise bad('sample is not a [time, "value"] pair')
    try:
        return float(pair[1])
    except ValueError:
        raise bad(f"sample value {pair[1][:40]!r} is not a number") from None
