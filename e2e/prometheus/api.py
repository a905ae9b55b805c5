"""Prometheus' HTTP API, read-only and loopback-only: readiness, instant queries, targets.

Errors: ``PrometheusError`` for anything that failed or answered an error, and
its subclass ``PrometheusNotInstalled`` (raised by ``server``) when there is no
binary to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "ActiveTarget",
    "Endpoint",
    "PrometheusError",
    "PrometheusNotInstalled",
    "Sample",
    "active_targets",
    "is_ready",
    "query",
]


class PrometheusError(RuntimeError):
    """Prometheus could not be started or answered with an error; the message says why."""


class PrometheusNotInstalled(PrometheusError):
    """No ``prometheus`` binary was found; the message names the package to install."""


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One element of an instant-query result: its labels and value."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True, kw_only=True)
class ActiveTarget:
    """A target Prometheus currently scrapes, as ``/api/v1/targets`` reports it."""

    address: str
    labels: dict[str, str]
    health: str
    last_error: str


def _get(url: str, *, params: dict[str, str] | None = None, timeout: float = 5.0) -> httpx.Response:
    """GET ignoring any proxy settings in the environment: Prometheus is on loopback."""
    return httpx.get(url, params=params, timeout=timeout, trust_env=False)


def is_ready(url: str) -> bool:
    """Whether ``/-/ready`` answers 200."""
    try:
        return _get(f"{url}/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _data(url: str, path: str, params: dict[str, str]) -> Any:
    try:
        response = _get(f"{url}{path}", params=params)
    except httpx.HTTPError as err:
        raise PrometheusError(f"GET {path} failed: {err}") from err
    try:
        body = response.json()
    except ValueError as err:
        raise PrometheusError(f"GET {path}: {response.status_code} {response.text}") from err
    if body.get("status") != "success":
        raise PrometheusError(f"GET {path}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def query(url: str, promql: str) -> list[Sample]:
    """Evaluate ``promql`` now; an instant vector, or a scalar as one unlabelled sample."""
    data = _data(url, "/api/v1/query", {"query": promql})
    kind, result = data["resultType"], data["result"]
    if kind == "vector":
        return [Sample(labels=item["metric"], value=float(item["value"][1])) for item in result]
    if kind == "scalar":
        return [Sample(labels={}, value=float(result[1]))]
    raise PrometheusError(f"query {promql!r} returned a {kind}, not an instant vector")


def active_targets(url: str) -> list[ActiveTarget]:
    """The targets Prometheus scrapes now, with the health of their last scrape."""
    data = _data(url, "/api/v1/targets", {"state": "active"})
    return [
        ActiveTarget(
            address=item["labels"].get("instance", item["scrapeUrl"]),
            labels=item["labels"],
            health=item["health"],
            last_error=item.get("lastError", ""),
        )
        for item in data["activeTargets"]
    ]


@dataclass(frozen=True)
class Endpoint:
    """A Prometheus someone else runs (the local cluster's, say), by its API's URL."""

    url: str

    def ready(self) -> bool:
        return is_ready(self.url)

    def query(self, promql: str) -> list[Sample]:
        return query(self.url, promql)

    def active_targets(self) -> list[ActiveTarget]:
        return active_targets(self.url)
