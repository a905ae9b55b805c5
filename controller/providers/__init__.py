"""Metric providers: the I/O edge where the analysis asks a metrics backend for numbers.

A provider is asynchronous. ``await provider.query(promql, at=...)`` answers one
PromQL *instant* query with a list of :class:`Sample`; a scalar result is one
sample with no labels. ``await provider.aclose()`` releases its connections.
Values are returned exactly as the backend sent them: ``NaN`` and ``±Inf`` stay
``NaN`` and ``±Inf`` (never 0) so the judge can decide what they mean. An empty
list means "no series matched", which is not the same as a zero count (see
``counters.counts``).

Each HTTP attempt has a total deadline, ``timeout_seconds``, enforced by asyncio
cancellation from connecting to the last byte of the body: a server that never
answers, or trickles its answer, cannot hold a query past it. Cancelling the task
that awaits ``query`` cancels the query too.

Modules: ``prometheus`` (the HTTP client), ``prometheus_config`` (its settings
and the default/override merge), ``templates`` (safe query substitution, plain
series selectors), ``counters`` (exact request counts from raw counter samples,
``counts``), ``builtin_metrics`` (ready-made request/bad-request selectors for
common meshes, ingresses and app metrics).

Exceptions raised by ``MetricProvider.query``::

    ProviderError            base class: .kind, .address, .query (shortened in str()),
    |                        .attempts; str() names the address and the query and
    |                        never contains a credential or header value
    +-- ProviderUnreachable  kind "unreachable": connection refused, DNS failure,
    |                        TLS handshake failure, connection dropped
    +-- ProviderTimeout      kind "timeout": no complete answer within the attempt's
    |                        deadline, a connect/read timeout, or Prometheus' own
    |                        query timeout (503 with errorType "timeout")
    +-- ProviderHTTPStatus   kind "http_status": any other non-2xx status
    |                        (.status): 401/403/404/500..., or 429/502/503/504
    |                        once the retries are used up
    +-- BadQuery             kind "bad_query": Prometheus rejected the query
    |                        (400 bad_data, 422 execution); never retried
    +-- BadResponse          kind "bad_response": a 2xx answer that is not a
    |                        Prometheus instant-query result (not JSON, a matrix,
    |                        a native histogram sample, malformed values)
    +-- CredentialsError     kind "credentials": a bearer-token or password file
                             could not be read at request time; never retried

``unreachable``, ``timeout`` and 429/502/503/504 are retried with jittered
exponential backoff before the error is raised; the others are raised at once.

``ProviderConfigError`` (a ``ValueError``, not a ``ProviderError``) is raised
while *building* a configuration or a provider: by ``prometheus_config.resolve``
when neither the default nor the override names an address, or when a TLS file
cannot be loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Protocol

__all__ = [
    "RETRYABLE_STATUSES",
    "BadQuery",
    "BadResponse",
    "CredentialsError",
    "ErrorKind",
    "MetricProvider",
    "ProviderConfigError",
    "ProviderError",
    "ProviderHTTPStatus",
    "ProviderTimeout",
    "ProviderUnreachable",
    "Sample",
    "shorten",
]

QUERY_PREVIEW_CHARS = 120
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
"""HTTP statuses worth another attempt: rate limited, or a proxy/backend briefly away."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (or a scalar, with no labels)."""

    labels: dict[str, str]
    value: float


class MetricProvider(Protocol):
    """Runs an instant query; ``at`` (timezone-aware) defaults to the server's now."""

    async def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]: ...

    async def aclose(self) -> None:
        """Release the provider's connections; it is not used afterwards."""
        ...


class ErrorKind(StrEnum):
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    BAD_QUERY = "bad_query"
    BAD_RESPONSE = "bad_response"
    CREDENTIALS = "credentials"


def shorten(query: str, limit: int = QUERY_PREVIEW_CHARS) -> str:
    """The query on one line, cut to ``limit`` characters for messages."""
    flat = " ".join(query.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ProviderError(Exception):
    """A query failed; see the module docstring for the hierarchy."""

    kind: ClassVar[ErrorKind]
    retryable: bool = False

    def __init__(self, reason: str, *, address: str, query: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.address = address
        self.query = query
        self.attempts = 1

    def __str__(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.reason}{tries} (Prometheus at {self.address}, query {shorten(self.query)!r})"


class ProviderUnreachable(ProviderError):
    kind = ErrorKind.UNREACHABLE
    retryable = True


class ProviderTimeout(ProviderError):
    kind = ErrorKind.TIMEOUT
    retryable = True


class ProviderHTTPStatus(ProviderError):
    kind = ErrorKind.HTTP_STATUS

    def __init__(self, reason: str, *, address: str, query: str, status: int) -> None:
        super().__init__(reason, address=address, query=query)
        self.status = status
        self.retryable = status in RETRYABLE_STATUSES


class BadQuery(ProviderError):
    kind = ErrorKind.BAD_QUERY


class BadResponse(ProviderError):
    kind = ErrorKind.BAD_RESPONSE


class CredentialsError(ProviderError):
    kind = ErrorKind.CREDENTIALS


class ProviderConfigError(ValueError):
    """A provider configuration is incomplete or contradictory."""
